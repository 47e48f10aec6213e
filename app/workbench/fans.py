"""A leader's fans: the buyers bound to their pickup point, what they ordered there, and the
segments (new, active, lapsed), defined once here as SQL for the fans list and for broadcasts."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import and_, func
from sqlmodel import Session, select

from app.auth.models import User
from app.db import utcnow
from app.order.models import Order, OrderItem
from app.order.rules import LIVE
from app.pagination import keyset

Segment = Literal["all", "new", "active", "lapsed"]
SEGMENTS: tuple[str, ...] = get_args(Segment)
NEW_DAYS, ACTIVE_DAYS, LAPSED_DAYS = 7, 14, 30

# "Ordered" means an order that reached paid: paid, shipped, arrived, picked up. An order with units
# refunded for a shortage keeps its status and counts (net of what was refunded); a wholly refunded
# or cancelled order, or one never paid, does not. Only orders at the leader's own point count.
ORDERED = LIVE

SEGMENT_DESCRIPTION = f"""\
Buyers bound to my pickup point (not me), newest first (by user id). Numbers count only orders
at my point that reached paid (`paid`, `shipped`, `arrived`, `picked_up`; an order partly refunded
for a shortage keeps its status and counts); cancelled, unpaid and wholly refunded orders do not.
`total_spent` is in fen, net of the units refunded for shortages; `last_order_at` is when the
latest such order was placed. Segments, relative to now:
`new`: bound to my point in the last {NEW_DAYS} days, never ordered here;
`active`: ordered here in the last {ACTIVE_DAYS} days;
`lapsed`: ordered here before, but not in the last {LAPSED_DAYS} days;
`all`: every fan. A buyer who ordered here but is now bound elsewhere is no longer my fan."""


def _last_order_at(pickup_point_id: int):
    """When the users row being filtered last placed an order at the point that reached paid (NULL:
    never). A scalar subquery on purpose: PostgreSQL turns EXISTS into a semi-join and, misjudging
    how many of a point's buyers match (it cannot know that they order at their own point), hashes
    all of the point's orders for each page (50-70 ms for a 3,000-fan point in bench/fans.py); a
    scalar subquery stays a probe of the fan's few orders (orders (buyer_id) index) as the keyset
    walk goes, and the walk stops when the page is full."""
    return (select(func.max(Order.created_at))
            .where(Order.buyer_id == User.id, Order.pickup_point_id == pickup_point_id, Order.status.in_(ORDERED))
            .scalar_subquery())


def fans_clause(*, pickup_point_id: int, leader_user_id: int, segment: str, now: datetime):
    """The WHERE clause (on users) of the fans of a point in a segment: THE definition of the
    segments, for the fans list and for broadcasts alike."""
    fans = and_(User.pickup_point_id == pickup_point_id, User.id != leader_user_id)
    if segment == "all":
        return fans
    last = _last_order_at(pickup_point_id)
    if segment == "new":
        return and_(fans, User.bound_at >= now - timedelta(days=NEW_DAYS), last.is_(None))
    if segment == "active":
        return and_(fans, last >= now - timedelta(days=ACTIVE_DAYS))
    if segment == "lapsed":  # NULL (never ordered) compares to nothing: not lapsed
        return and_(fans, last < now - timedelta(days=LAPSED_DAYS))
    raise ValueError(f"unknown segment {segment!r}")  # the schemas let only SEGMENTS through


def list_fans(session: Session, *, pickup_point_id: int, leader_user_id: int, segment: str,
              before_id: int | None, limit: int, now: datetime | None = None) -> list:
    """One page (limit + 1 rows, for page_of) in ONE statement: the page's ids (a CTE, keyset on
    user id, answered from the users (pickup_point_id, id, bound_at) index and the orders' without
    reading the fans' rows), then their rows LEFT JOIN the aggregate of their orders at the point,
    so the aggregate reads only this page's buyers' orders, whatever the size of the point."""
    now = now or utcnow()
    page = keyset(select(User.id)
                  .where(fans_clause(pickup_point_id=pickup_point_id, leader_user_id=leader_user_id,
                                     segment=segment, now=now)),
                  User.id, before_id, limit).cte("fans_page")
    refunded = (select(func.coalesce(func.sum(OrderItem.refunded_qty * OrderItem.unit_price), 0))
                .where(OrderItem.order_id == Order.id).scalar_subquery())
    spent = (select(Order.buyer_id, func.count(Order.id).label("order_count"),
                    func.sum(Order.total - refunded).label("total_spent"),
                    func.max(Order.created_at).label("last_order_at"))
             .where(Order.buyer_id.in_(select(page.c.id)), Order.pickup_point_id == pickup_point_id,
                    Order.status.in_(ORDERED))
             .group_by(Order.buyer_id).subquery("spent"))
    return session.exec(
        select(User.id.label("user_id"), User.nickname, User.bound_at,
               func.coalesce(spent.c.order_count, 0).label("order_count"),
               func.coalesce(spent.c.total_spent, 0).label("total_spent"), spent.c.last_order_at)
        .select_from(page.join(User, User.id == page.c.id).outerjoin(spent, spent.c.buyer_id == page.c.id))
        .order_by(User.id.desc())).all()


def fan_ids_in_batches(session: Session, *, pickup_point_id: int, leader_user_id: int, segment: str,
                       batch: int, now: datetime | None = None) -> Iterator[list[int]]:
    """The fans' user ids in a segment, ascending, a batch (one keyset query) at a time: a
    broadcast never holds a point's whole list in memory."""
    now = now or utcnow()
    clause = fans_clause(pickup_point_id=pickup_point_id, leader_user_id=leader_user_id, segment=segment, now=now)
    after = 0
    while True:
        ids = list(session.exec(select(User.id).where(clause, User.id > after).order_by(User.id).limit(batch)))
        if not ids:
            return
        yield ids
        after = ids[-1]
