"""Commission ledger: an entry (rate × what the order kept: its total less the units refunded for a
shortage) per picked-up order, settled after the freeze period, reversed when the order is
refunded."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.commission.models import Commission
from app.config import Settings
from app.db import utcnow
from app.earnings import service as earnings_service
from app.leader import service as leader_service
from app.pagination import keyset


def rate_bp_for(leader, settings: Settings) -> int:
    """The leader's own rate (basis points) or the platform default; leader: anything with
    commission_rate_bp (the leader domain's row)."""
    if leader.commission_rate_bp is not None:
        return leader.commission_rate_bp
    return int((settings.commission_rate * 10_000).to_integral_value(ROUND_HALF_UP))


def amount_for(total: int, rate_bp: int) -> int:
    return int((Decimal(total) * rate_bp / 10_000).to_integral_value(ROUND_HALF_UP))


def accrue(session: Session, *, settings: Settings, order_id: int, leader_id: int, total: int,
           picked_up_at: datetime) -> Commission | None:
    leader = leader_service.get_leader(session, leader_id)
    rate = rate_bp_for(leader, settings)
    entry = Commission(leader_id=leader_id, order_id=order_id, amount=amount_for(total, rate), rate_bp=rate,
                       settle_at=picked_up_at + timedelta(days=settings.commission_freeze_days))
    try:
        with session.begin_nested():  # one entry per order, whoever gets here twice
            session.add(entry)
            session.flush()
    except IntegrityError:
        return None
    return entry


def rebase(session: Session, *, order_id: int, base: int) -> bool:
    """Shrink the order's entry to rate × base when part of the order was refunded after it was
    accrued (settled or not, like reverse: a settled one gives the difference back from the next
    payout). Only ever down: a late rebase never raises an entry again."""
    entry = _locked(session, order_id)
    if entry is None or entry.status == "reversed":
        return False
    amount = amount_for(max(base, 0), entry.rate_bp)
    was, status = entry.amount, entry.status  # (the UPDATE below refreshes the loaded row)
    if not session.exec(update(Commission).where(Commission.id == entry.id, Commission.amount > amount)
                        .values(amount=amount)).rowcount:
        return False
    if status == "settled":  # already in the leader's earnings: the difference comes back out
        earnings_service.commission_taken_back(session, leader_id=entry.leader_id, commission_id=entry.id,
                                               amount=was - amount, rebased_to=amount)
    return True


def _locked(session: Session, order_id: int) -> Commission | None:
    """The order's commission with its row locked: settling, rebasing and reversing one entry take
    turns, so the ledger sees each in the order it happened."""
    return session.exec(select(Commission).where(Commission.order_id == order_id).with_for_update()
                        .execution_options(populate_existing=True)).first()


def reverse(session: Session, *, order_id: int) -> bool:
    """Reverse the order's entry, settled or not: a settled one is taken back out of the leader's
    earnings (what they no longer hold is owed, and comes out of the next earnings)."""
    entry = _locked(session, order_id)
    if entry is None or entry.status == "reversed":
        return False
    status, amount = entry.status, entry.amount  # (the UPDATE below refreshes the loaded row)
    if not session.exec(update(Commission).where(Commission.id == entry.id, Commission.status == status)
                        .values(status="reversed", reversed_at=utcnow())).rowcount:
        return False
    if status == "settled":
        earnings_service.commission_taken_back(session, leader_id=entry.leader_id, commission_id=entry.id,
                                               amount=amount)
    return True


def settle_due(session: Session, *, now: datetime | None = None) -> int:
    """Settle what is due, each entry once, and credit it to its leader's earnings (once per
    commission: the ledger's (kind, source) is unique)."""
    now = now or utcnow()
    settled = session.execute(update(Commission).where(Commission.status == "pending", Commission.settle_at <= now)
                              .values(status="settled", settled_at=now)
                              .returning(Commission.id, Commission.leader_id, Commission.amount)).all()
    for commission_id, leader_id, amount in sorted(settled):
        earnings_service.commission_settled(session, leader_id=leader_id, commission_id=commission_id, amount=amount)
    return len(settled)


def list_for_leader(session: Session, *, leader_id: int, status: str | None, before_id: int | None, limit: int):
    q = select(Commission).where(Commission.leader_id == leader_id)
    if status:
        q = q.where(Commission.status == status)
    return list(session.exec(keyset(q, Commission.id, before_id, limit)))


def totals_for_leader(session: Session, *, leader_id: int) -> dict[str, int]:
    rows = session.exec(select(Commission.status, func.coalesce(func.sum(Commission.amount), 0))
                        .where(Commission.leader_id == leader_id).group_by(Commission.status)).all()
    totals = {"pending": 0, "settled": 0, "reversed": 0}
    totals.update({status: int(amount) for status, amount in rows})
    totals["earned"] = totals["pending"] + totals["settled"]
    return totals
