"""Coupons: templates, claiming (never past `total`, never past `per_user_limit`), using one on an
order (once, under any concurrency) and giving it back when that order ends without being kept.

Every counter moves by one conditional UPDATE, with a CHECK behind it: a template's `issued`
(`WHERE issued < total`), a coupon's status (`WHERE status = 'unused'`). A buyer's n-th coupon of a
template is row (template, owner, seq = n) under a unique key, so two claims racing for the same
slot cannot both land. The order domain calls redeem() while placing an order and registers
give_back() on its cancelled and refunded events (app/wiring.py)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.catalog import service as catalog_service
from app.catalog.errors import ProductNotFound
from app.coupons.errors import (ClaimLimitReached, CouponExpired, CouponMinSpendNotMet, CouponNotApplicable,
                                CouponNotClaimable, CouponNotFound, CouponNotYetValid, CouponsGone,
                                CouponTemplateNotFound, CouponUsed, InvalidCouponTemplate)
from app.coupons.models import Coupon, CouponKind, CouponStatus, CouponTemplate
from app.db import get_or_raise, utcnow
from app.pagination import keyset

CS = CouponStatus
# Orders a coupon may go on: plain checkouts. Flash-sale, group-buy and bargain prices are
# campaign prices already.
COUPON_SOURCES = ("plain",)
CLAIM_ATTEMPTS = 3


# ---- templates ----------------------------------------------------------------------------------

def create_template(session: Session, *, name: str, kind: str, value: int, min_spend: int, total: int,
                    per_user_limit: int, valid_from: datetime, valid_to: datetime, max_discount: int | None = None,
                    valid_days: int | None = None, product_ids: list[int] | None = None,
                    claimable: bool = True) -> CouponTemplate:
    if valid_to <= valid_from:
        raise InvalidCouponTemplate("valid_to must be after valid_from.")
    if kind == CouponKind.percent.value and not 1 <= value <= 99:
        raise InvalidCouponTemplate("A percent coupon takes 1..99 percent off.")
    if kind == CouponKind.fixed.value and max_discount is not None:
        raise InvalidCouponTemplate("max_discount caps percent coupons only.")
    scope = sorted(set(product_ids)) if product_ids else None
    for product_id in scope or ():
        try:
            catalog_service.get_product(session, product_id, on_sale_only=False)
        except ProductNotFound:
            raise InvalidCouponTemplate(f"Product {product_id} does not exist.", product_id=product_id) from None
    t = CouponTemplate(name=name, kind=kind, value=value, max_discount=max_discount, min_spend=min_spend, total=total,
                       per_user_limit=per_user_limit, valid_from=valid_from, valid_to=valid_to, valid_days=valid_days,
                       product_ids=scope, claimable=claimable)
    session.add(t)
    session.flush()
    return t


def get_template(session: Session, template_id: int, *, for_update: bool = False) -> CouponTemplate:
    if for_update:
        t = session.exec(select(CouponTemplate).where(CouponTemplate.id == template_id).with_for_update()
                         .execution_options(populate_existing=True)).first()
        if t is None:
            raise CouponTemplateNotFound(f"Coupon template {template_id} does not exist.")
        return t
    return get_or_raise(session, CouponTemplate, template_id, CouponTemplateNotFound, "Coupon template")


def templates_by_id(session: Session, ids: set[int]) -> dict[int, CouponTemplate]:
    if not ids:
        return {}
    return {t.id: t for t in session.exec(select(CouponTemplate).where(CouponTemplate.id.in_(ids)))}


def list_claimable(session: Session, *, before_id: int | None, limit: int, now: datetime | None = None):
    """Templates a buyer can claim now: claimable, in their window, with some left."""
    now = now or utcnow()
    q = select(CouponTemplate).where(CouponTemplate.claimable.is_(True), CouponTemplate.valid_from <= now,
                                     CouponTemplate.valid_to > now, CouponTemplate.issued < CouponTemplate.total)
    return list(session.exec(keyset(q, CouponTemplate.id, before_id, limit)))


def list_templates(session: Session, *, before_id: int | None, limit: int):
    return list(session.exec(keyset(select(CouponTemplate), CouponTemplate.id, before_id, limit)))


def expiry_for(t: CouponTemplate, claimed_at: datetime) -> datetime:
    if t.valid_days:
        return min(claimed_at + timedelta(days=t.valid_days), t.valid_to)
    return t.valid_to


def take_issues(session: Session, *, template_id: int, n: int) -> bool:
    """Count n more coupons of the template as issued, if that stays within its total (one
    conditional UPDATE: the row's lock and the check are one thing, so no race issues more)."""
    return bool(session.exec(update(CouponTemplate)
                             .where(CouponTemplate.id == template_id, CouponTemplate.issued + n <= CouponTemplate.total)
                             .values(issued=CouponTemplate.issued + n)
                             .execution_options(synchronize_session=False)).rowcount)


# ---- claiming -----------------------------------------------------------------------------------

def held(session: Session, *, template_id: int, owner_id: int) -> int:
    """How many coupons of the template the buyer holds (used or not): their highest seq."""
    return int(session.exec(select(func.coalesce(func.max(Coupon.seq), 0))
                            .where(Coupon.template_id == template_id, Coupon.owner_id == owner_id)).one())


def claim(session: Session, *, template_id: int, buyer_id: int, now: datetime | None = None) -> Coupon:
    """One coupon of the template for the buyer: 409 coupons_gone when its total is issued,
    claim_limit_reached when they hold per_user_limit already (the caller's transaction rolls the
    issue back with it)."""
    now = now or utcnow()
    t = get_template(session, template_id)
    if not t.claimable:
        raise CouponNotClaimable("This coupon is handed out by leaders only.", template_id=template_id)
    if not t.valid_from <= now < t.valid_to:
        raise CouponNotClaimable("This coupon cannot be claimed now.", template_id=template_id,
                                 valid_from=t.valid_from.isoformat(), valid_to=t.valid_to.isoformat())
    limit_reached = ClaimLimitReached(f"At most {t.per_user_limit} of this coupon per buyer.",
                                      per_user_limit=t.per_user_limit)
    if held(session, template_id=template_id, owner_id=buyer_id) >= t.per_user_limit:
        raise limit_reached  # (said before taking one of the total, for the clearer answer)
    if not take_issues(session, template_id=template_id, n=1):
        raise CouponsGone("All of this coupon has been claimed.", template_id=template_id)
    for _ in range(CLAIM_ATTEMPTS):
        # Counted again after the template's row lock: a claim of the same buyer that held it
        # has committed by now (each statement sees what committed before it on PostgreSQL).
        n = held(session, template_id=template_id, owner_id=buyer_id)
        if n >= t.per_user_limit:
            raise limit_reached
        coupon = Coupon(template_id=template_id, owner_id=buyer_id, seq=n + 1, claimed_at=now,
                        expires_at=expiry_for(t, now))
        try:
            with session.begin_nested():
                session.add(coupon)
                session.flush()
        except IntegrityError:
            continue  # the slot was taken by a racing claim: count again
        return coupon
    raise limit_reached


# ---- using one on an order ----------------------------------------------------------------------

@dataclass
class CouponLine:
    product_id: int
    amount: int  # fen, the line's goods value


def discount_for(t: CouponTemplate, *, lines: list[CouponLine], base: int) -> int:
    """What the template takes off an order whose goods come to `base` after the member discount:
    computed on the lines in its product scope (their share of base), at least min_spend of them;
    always leaving 1 fen to pay (WeChat Pay takes no 0-fen payment)."""
    goods = sum(ln.amount for ln in lines)
    scoped = sum(ln.amount for ln in lines if not t.product_ids or ln.product_id in t.product_ids)
    if scoped == 0:
        raise CouponNotApplicable("No item of this order is one the coupon is for.", product_ids=t.product_ids)
    eligible = scoped * base // goods if goods else 0
    if eligible < t.min_spend:
        raise CouponMinSpendNotMet(f"The coupon needs {t.min_spend} fen of eligible goods; this order has {eligible}.",
                                   min_spend=t.min_spend, eligible=eligible)
    if t.kind == CouponKind.percent.value:
        off = eligible * t.value // 100
        if t.max_discount is not None:
            off = min(off, t.max_discount)
    else:
        off = t.value
    off = min(off, eligible, base - 1)
    if off <= 0:
        raise CouponNotApplicable("The coupon would take nothing off this order.")
    return off


def redeem(session: Session, *, coupon_id: int, buyer_id: int, source: str, lines: list[CouponLine], base: int,
           now: datetime | None = None) -> int:
    """Use the buyer's coupon on the order being placed and answer the discount. The coupon goes
    unused → used in one conditional UPDATE: of two orders racing for it, one gets it and the
    other is refused coupon_used (the order's partial unique index on live coupon_id is the net
    under it)."""
    now = now or utcnow()
    coupon = session.get(Coupon, coupon_id)
    if coupon is None or coupon.owner_id != buyer_id:
        raise CouponNotFound(f"Coupon {coupon_id} does not exist.")
    if source not in COUPON_SOURCES:
        raise CouponNotApplicable("Coupons do not apply to flash-sale, group-buy or bargain orders.", source=source)
    _check_usable(coupon, now)
    t = get_template(session, coupon.template_id)
    if now < t.valid_from:
        raise CouponNotYetValid(f"The coupon can be used from {t.valid_from.isoformat()}.",
                                valid_from=t.valid_from.isoformat())
    off = discount_for(t, lines=lines, base=base)
    used = session.exec(update(Coupon).where(Coupon.id == coupon_id, Coupon.owner_id == buyer_id,
                                             Coupon.status == CS.unused.value, Coupon.expires_at > now)
                        .values(status=CS.used.value, used_at=now)
                        .execution_options(synchronize_session=False)).rowcount
    if not used:
        session.refresh(coupon)  # lost a race: say to what
        _check_usable(coupon, now)
        raise CouponUsed("The coupon is on another order.")
    return off


def _check_usable(coupon: Coupon, now: datetime) -> None:
    if coupon.status == CS.used.value:
        raise CouponUsed("The coupon is on another order.")
    if coupon.status == CS.expired.value or coupon.expires_at <= now:
        raise CouponExpired(f"The coupon expired at {coupon.expires_at.isoformat()}.",
                            expires_at=coupon.expires_at.isoformat())


def give_back(session: Session, order) -> None:
    """An order hook (cancelled, refunded): the order's coupon comes back unused if it is still
    valid; one past its expiry is marked expired. `order`: anything with coupon_id (the order
    domain's row; not imported, the order domain sits above this one)."""
    coupon_id = getattr(order, "coupon_id", None)
    if coupon_id is None:
        return
    now = utcnow()
    back = session.exec(update(Coupon).where(Coupon.id == coupon_id, Coupon.status == CS.used.value,
                                             Coupon.expires_at > now)
                        .values(status=CS.unused.value, used_at=None)
                        .execution_options(synchronize_session=False)).rowcount
    if not back:
        session.exec(update(Coupon).where(Coupon.id == coupon_id, Coupon.status == CS.used.value)
                     .values(status=CS.expired.value).execution_options(synchronize_session=False))


# ---- reading ------------------------------------------------------------------------------------

def status_of(coupon: Coupon, now: datetime) -> str:
    if coupon.status == CS.unused.value and coupon.expires_at <= now:
        return CS.expired.value
    return coupon.status


def _status_clause(status: str, now: datetime):
    if status == CS.unused.value:
        return and_(Coupon.status == CS.unused.value, Coupon.expires_at > now)
    if status == CS.expired.value:
        return or_(Coupon.status == CS.expired.value, and_(Coupon.status == CS.unused.value, Coupon.expires_at <= now))
    return Coupon.status == status


def list_mine(session: Session, *, owner_id: int, status: str | None, before_id: int | None, limit: int,
              now: datetime | None = None) -> list[Coupon]:
    now = now or utcnow()
    q = select(Coupon).where(Coupon.owner_id == owner_id)
    if status:
        q = q.where(_status_clause(status, now))
    return list(session.exec(keyset(q, Coupon.id, before_id, limit)))


def template_counts(session: Session, *, template_id: int, now: datetime | None = None) -> dict[str, int]:
    """issued, unused, used and expired coupons of a template (one GROUP BY)."""
    now = now or utcnow()
    past = func.coalesce(func.sum(case((Coupon.expires_at <= now, 1), else_=0)), 0)
    rows = session.exec(select(Coupon.status, func.count(Coupon.id), past)
                        .where(Coupon.template_id == template_id).group_by(Coupon.status)).all()
    out = {"issued": 0, CS.unused.value: 0, CS.used.value: 0, CS.expired.value: 0}
    for status, n, n_past in rows:
        out["issued"] += int(n)
        if status == CS.unused.value:
            out[CS.expired.value] += int(n_past)
            out[status] += int(n) - int(n_past)
        else:
            out[status] += int(n)
    return out


def coupon_ids_of(template_id: int):
    """A subquery of the template's coupon ids, for the order domain's "orders it discounted"."""
    return select(Coupon.id).where(Coupon.template_id == template_id)
