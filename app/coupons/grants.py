"""A leader's exclusive offers (团长专享): the quota an operator gives a leader for a template, and
the leader's grant of one coupon to each fan of a segment who holds none of it yet.

A grant locks the leader's quota row and then the template's row (always in that order), so two
grants of one leader queue and the second sees what the first handed out; the counters move by
conditional UPDATEs within the quota and the total, with CHECKs behind them. A fan's granted
coupon is their seq 1 of the template (unique), so a fan gets it once whatever races."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from app.coupons.errors import CouponLeaderHasNoPoint, CouponNotClaimable, CouponsGone, NoCouponQuota, QuotaBelowGranted
from app.coupons.models import Coupon, CouponGrant, CouponTemplate, LeaderCouponQuota
from app.coupons.service import expiry_for, get_template, take_issues
from app.db import dialect_insert, utcnow
from app.leader import service as leader_service
from app.notify import service as notify_service
from app.workbench import fans as leader_fans

Q = LeaderCouponQuota
FAN_BATCH = 500
EVENT = "coupon.granted"


def set_quota(session: Session, *, template_id: int, leader_id: int, quota: int) -> LeaderCouponQuota:
    """This leader may hand out up to `quota` of the template (set, not added; never below what
    they granted already: 409 quota_below_granted)."""
    get_template(session, template_id)
    leader_service.get_leader(session, leader_id)  # 404 leader_not_found
    now = utcnow()
    session.execute(dialect_insert(session, Q.__table__)
                    .values(template_id=template_id, leader_id=leader_id, quota=quota, granted=0, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["template_id", "leader_id"]))
    moved = session.exec(update(Q).where(Q.template_id == template_id, Q.leader_id == leader_id, Q.granted <= quota)
                         .values(quota=quota, updated_at=now).execution_options(synchronize_session=False)).rowcount
    row = _quota(session, template_id=template_id, leader_id=leader_id)
    if not moved:
        raise QuotaBelowGranted(f"The leader has granted {row.granted} already; the quota cannot be less.",
                                granted=row.granted)
    return row


def _quota(session: Session, *, template_id: int, leader_id: int, for_update: bool = False) -> Q | None:
    q = select(Q).where(Q.template_id == template_id, Q.leader_id == leader_id)
    if for_update:
        q = q.with_for_update()
    return session.exec(q.execution_options(populate_existing=True)).first()


def quotas_of_leader(session: Session, *, leader_id: int) -> list[tuple[Q, CouponTemplate]]:
    return list(session.exec(select(Q, CouponTemplate).join(CouponTemplate, CouponTemplate.id == Q.template_id)
                             .where(Q.leader_id == leader_id).order_by(Q.template_id.desc())).all())


def quotas_of_template(session: Session, *, template_id: int) -> list[Q]:
    return list(session.exec(select(Q).where(Q.template_id == template_id).order_by(Q.leader_id)))


@dataclass
class GrantResult:
    grant: CouponGrant
    quota_left: int
    coupons: list[tuple[int, int]]  # (fan's user id, coupon id)


def grant_to_segment(session: Session, *, leader_id: int, leader_user_id: int, pickup_point_id: int | None,
                     template_id: int, segment: str, now: datetime | None = None) -> GrantResult:
    """One coupon of the template to each fan of the segment (the fans list's own SQL) who holds
    none of it yet, lowest user id first, until the leader's quota (or the template's total) is
    used up; each recipient is told (notification, socket event, subscribe message)."""
    if pickup_point_id is None:
        raise CouponLeaderHasNoPoint("You have no pickup point, so no fans to grant to.")
    now = now or utcnow()
    quota = _quota(session, template_id=template_id, leader_id=leader_id, for_update=True)
    if quota is None:
        get_template(session, template_id)  # 404 for a template that does not exist
        raise NoCouponQuota("The operator has given you no quota of this coupon.", template_id=template_id)
    t = get_template(session, template_id, for_update=True)
    if now >= t.valid_to:
        raise CouponNotClaimable("This coupon has ended.", template_id=template_id)
    room = min(quota.quota - quota.granted, t.total - t.issued)
    if quota.quota - quota.granted <= 0:
        raise NoCouponQuota("Your quota of this coupon is handed out.", template_id=template_id, quota=quota.quota)
    if room <= 0:
        raise CouponsGone("All of this coupon has been issued.", template_id=template_id)
    grant = CouponGrant(template_id=template_id, leader_id=leader_id, segment=segment, created_at=now)
    session.add(grant)
    session.flush()
    expires_at = expiry_for(t, now)
    given: list[tuple[int, int]] = []
    table = Coupon.__table__
    for batch in leader_fans.fan_ids_in_batches(session, pickup_point_id=pickup_point_id,
                                                leader_user_id=leader_user_id, segment=segment, batch=FAN_BATCH,
                                                now=now):
        holders = set(session.exec(select(Coupon.owner_id).where(Coupon.template_id == template_id,
                                                                 Coupon.owner_id.in_(batch))))
        todo = [u for u in batch if u not in holders][:room - len(given)]
        if todo:
            # A fan who claimed one meanwhile holds seq 1 already: skipped, not doubled.
            rows = [dict(template_id=template_id, owner_id=u, seq=1, status="unused", leader_id=leader_id,
                         grant_id=grant.id, claimed_at=now, expires_at=expires_at) for u in todo]
            given += [(u, cid) for cid, u in session.execute(
                dialect_insert(session, table).on_conflict_do_nothing(
                    index_elements=["template_id", "owner_id", "seq"]).returning(table.c.id, table.c.owner_id),
                rows).all()]
        if len(given) >= room:
            break
    n = len(given)
    if n:
        # Under the two row locks these cannot miss; were they ever to, nothing is handed out.
        took = session.exec(update(Q).where(Q.template_id == template_id, Q.leader_id == leader_id,
                                            Q.granted + n <= Q.quota)
                            .values(granted=Q.granted + n, updated_at=now)
                            .execution_options(synchronize_session=False)).rowcount
        if not took:
            raise NoCouponQuota("Your quota of this coupon is handed out.", template_id=template_id)
        if not take_issues(session, template_id=template_id, n=n):
            raise CouponsGone("All of this coupon has been issued.", template_id=template_id)
    grant.granted = n
    session.add(grant)
    session.flush()
    notify_service.notify_many(session, items=[(u, _event_data(t, cid, leader_id, expires_at)) for u, cid in given],
                               event=EVENT, title="团长送你一张优惠券", body=f"{t.name}，{expires_at:%Y-%m-%d} 前有效")
    return GrantResult(grant=grant, quota_left=quota.quota - quota.granted - n, coupons=given)


def _event_data(t: CouponTemplate, coupon_id: int, leader_id: int, expires_at: datetime) -> dict:
    return {"coupon_id": coupon_id, "template_id": t.id, "name": t.name, "kind": t.kind, "value": t.value,
            "min_spend": t.min_spend, "leader_id": leader_id, "expires_at": expires_at.isoformat()}
