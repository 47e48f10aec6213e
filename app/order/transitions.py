"""Orders' state changes: each one conditional UPDATE (the winner of a race is the one whose
UPDATE matched), then the hooks of the event for the domains that react to it."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.catalog import service as catalog_service
from app.db import utcnow
from app.errors import InvalidState
from app.order.errors import PickupCodesExhausted, UnknownCode
from app.order.hooks import OrderEvent, hooks
from app.order.models import Order, OrderItem, OrderStatus
from app.order.queries import get_buyer_order, get_order, items_of
from app.order.rules import SKU_STOCK_SOURCES, shippable_clause

S = OrderStatus


@dataclass(frozen=True)
class PaidResult:
    """What mark_paid did: applied, or not and why ("not_payable" or a hook's refusal).
    Truthy when applied, so `if not mark_paid(...)` reads as before."""
    applied: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.applied


def _transition(session: Session, order_id: int, from_: tuple[S, ...], to: S, **values) -> bool:
    """Move an order between states in one conditional UPDATE: the winner of a race is the one
    whose UPDATE matched, so every transition happens at most once."""
    # synchronize_session=False: the ORM must not "evaluate" the WHERE against a stale loaded
    # order and mark it moved when the database matched nothing (a race lost); callers refresh.
    n = session.exec(update(Order).where(Order.id == order_id, Order.status.in_([s.value for s in from_]))
                     .values(status=to.value, **values).execution_options(synchronize_session=False)).rowcount
    return bool(n)


def _return_stock(session: Session, order: Order) -> None:
    if order.source in SKU_STOCK_SOURCES:
        for item in items_of(session, [order.id])[order.id]:
            catalog_service.return_stock(session, sku_id=item.sku_id, qty=item.qty)


def cancel_unpaid(session: Session, *, order_id: int, reason: str) -> bool:
    """pending_payment → cancelled, returning stock; False if the order had moved on."""
    if not _transition(session, order_id, (S.pending_payment,), S.cancelled, cancelled_at=utcnow(),
                       cancel_reason=reason):
        return False
    order = get_order(session, order_id)
    session.refresh(order)
    _return_stock(session, order)
    hooks.fire(session, OrderEvent.cancelled, order)
    return True


def expire_if_due(session: Session, *, order_id: int, now: datetime | None = None) -> bool:
    now = now or utcnow()
    order = session.get(Order, order_id)
    if order is None or order.status != S.pending_payment.value or order.pay_before is None or order.pay_before > now:
        return False
    return cancel_unpaid(session, order_id=order_id, reason="payment_timeout")


def expire_overdue_batch(session: Session, *, now: datetime, limit: int = 1000) -> int:
    """Cancel up to `limit` orders left unpaid past pay_before, as a set: one UPDATE for the
    orders (RETURNING the ones this call won, so a racing payment or cancel keeps its own),
    one UPDATE per SKU for the stock, then each order's "cancelled" hooks."""
    # (paid_at/cancelled_at IS NULL: said so that the partial index ix_orders_unpaid_pay_before applies)
    ids = list(session.exec(select(Order.id).where(Order.status == S.pending_payment.value, Order.pay_before <= now,
                                                   Order.paid_at.is_(None), Order.cancelled_at.is_(None))
                            .order_by(Order.id).limit(limit)))
    if not ids:
        return 0
    won = list(session.execute(
        update(Order).where(Order.id.in_(ids), Order.status == S.pending_payment.value, Order.pay_before <= now)
        .values(status=S.cancelled.value, cancelled_at=now, cancel_reason="payment_timeout")
        .returning(Order.id).execution_options(synchronize_session=False)).scalars())
    if not won:
        return 0
    back = session.exec(select(OrderItem.sku_id, func.sum(OrderItem.qty)).join(Order, Order.id == OrderItem.order_id)
                        .where(Order.id.in_(won), Order.source.in_(SKU_STOCK_SOURCES))
                        .group_by(OrderItem.sku_id)).all()
    catalog_service.return_stock_many(session, qty_by_sku={sku_id: int(qty) for sku_id, qty in back})
    for order in session.exec(select(Order).where(Order.id.in_(won)).order_by(Order.id)):
        hooks.fire(session, OrderEvent.cancelled, order)
    return len(won)


def cancel_by_buyer(session: Session, *, order_id: int, buyer_id: int) -> Order:
    order = get_buyer_order(session, order_id=order_id, buyer_id=buyer_id)
    if order.status == S.pending_payment.value and cancel_unpaid(session, order_id=order_id, reason="buyer"):
        session.refresh(order)
        return order
    session.refresh(order)  # a payment may have landed while the cancel waited for the row
    if order.status == S.paid.value:
        # The payment domain's "refunded" hook gives the money back.
        mark_refunded(session, order_id=order_id, reason="buyer_cancelled")
        session.refresh(order)
        return order
    raise InvalidState(f"An order that is {order.status} cannot be cancelled.", status_now=order.status)


def ensure_payable(session: Session, order: Order) -> bool:
    """True when the order can be paid now; False when it was found past pay_before and has just
    been cancelled (work the caller commits before telling the buyer payment_expired)."""
    if order.status != S.pending_payment.value:
        raise InvalidState(f"Order {order.id} is {order.status}, not pending_payment.", status_now=order.status)
    if order.pay_before is not None and order.pay_before <= utcnow():
        cancel_unpaid(session, order_id=order.id, reason="payment_timeout")
        return False
    return True


def mark_paid(session: Session, *, order_id: int, paid_at: datetime) -> PaidResult:
    """pending_payment → paid, unless the order is no longer payable (expired, cancelled:
    reason "not_payable") or a "paid" hook refuses (a full group: its reason).

    A refused payment never leaves the order paid: the paid step is rolled back and the order is
    cancelled like an unpaid one (stock back, "cancelled" hooks), not refunded, since it never
    was paid; the payment domain, told applied=False, records the money and refunds it.
    """
    savepoint = session.begin_nested()
    if not _transition(session, order_id, (S.pending_payment,), S.paid, paid_at=paid_at):
        savepoint.rollback()
        return PaidResult(False, "not_payable")
    order = get_order(session, order_id)
    session.refresh(order)
    if order.delivery_date is not None:
        assign_pickup_code(session, order)
    refusal = hooks.fire(session, OrderEvent.paid, order)
    if not refusal:
        savepoint.commit()
        return PaidResult(True)
    savepoint.rollback()
    cancel_unpaid(session, order_id=order_id, reason=f"payment_refused:{refusal}"[:64])
    return PaidResult(False, refusal)


def mark_refunded(session: Session, *, order_id: int, allowed_from: tuple[S, ...] = (S.paid,),
                  reason: str = "") -> Order:
    if not _transition(session, order_id, allowed_from, S.refunded, refunded_at=utcnow(), cancel_reason=reason):
        order = get_order(session, order_id)
        session.refresh(order)
        raise InvalidState(f"An order that is {order.status} cannot be refunded.", status_now=order.status)
    order = get_order(session, order_id)
    session.refresh(order)
    if order.shipped_at is None:
        _return_stock(session, order)
    hooks.fire(session, OrderEvent.refunded, order)
    return order


def set_delivery_date(session: Session, *, order_id: int, delivery_date: date) -> None:
    """For orders dated late (a group-buy's, when its group succeeds)."""
    order = get_order(session, order_id)
    order.delivery_date = delivery_date
    session.add(order)
    session.flush()
    if order.status == S.paid.value and order.pickup_code is None:
        assign_pickup_code(session, order)


def assign_pickup_code(session: Session, order: Order) -> str:
    """A random 6-digit code, unique per pickup point and delivery date (the database's unique
    key decides; a collision just draws again)."""
    for _ in range(PICKUP_CODE_ATTEMPTS):
        code = draw_pickup_code()
        try:
            with session.begin_nested():
                session.exec(update(Order).where(Order.id == order.id).values(pickup_code=code))
        except IntegrityError:
            continue
        order.pickup_code = code
        return code
    raise PickupCodesExhausted("Could not draw a free pickup code; try again.")


PICKUP_CODE_ATTEMPTS = 50


def draw_pickup_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _ship(delivery_date: date, now: datetime, pickup_point_id: int | None = None):
    # On the table, not the Order entity: the ids come back as plain rows (a night's 300,000
    # through the ORM's loading took longer than the UPDATE itself on SQLite), and no ORM
    # session state is touched (it would not be synchronised anyway).
    o = Order.__table__
    stmt = (update(o).where(o.c.status == S.paid.value, o.c.delivery_date == delivery_date, shippable_clause())
            .values(status=S.shipped.value, shipped_at=now).returning(o.c.id))
    return stmt if pickup_point_id is None else stmt.where(o.c.pickup_point_id == pickup_point_id)


def ship_for_delivery(session: Session, *, delivery_date: date, now: datetime) -> int:
    """paid → shipped for every shippable order of a delivery date, in one UPDATE (the nightly
    manifest build). Idempotent: a shipped order no longer matches `status = 'paid'`."""
    ids = session.execute(_ship(delivery_date, now)).scalars().all()
    hooks.fire_set(session, OrderEvent.shipped, ids)
    return len(ids)


def ship_paid_orders(session: Session, *, delivery_date: date, pickup_point_id: int | None = None) -> list[int]:
    """The same set-based UPDATE, for one point if given, answering the ids it shipped."""
    ids = sorted(session.execute(_ship(delivery_date, utcnow(), pickup_point_id)).scalars().all())
    hooks.fire_set(session, OrderEvent.shipped, ids)
    return ids


def receive_delivery(session: Session, *, pickup_point_id: int, delivery_date: date) -> list[Order]:
    """shipped → arrived for everything delivered to this point for this date."""
    ids = list(session.exec(select(Order.id).where(Order.pickup_point_id == pickup_point_id,
                                                   Order.delivery_date == delivery_date,
                                                   Order.status == S.shipped.value)))
    now = utcnow()
    arrived = [get_order(session, i) for i in ids if _transition(session, i, (S.shipped,), S.arrived, arrived_at=now)]
    for order in arrived:
        hooks.fire(session, OrderEvent.arrived, order)
    hooks.fire_set(session, OrderEvent.received, [o.id for o in arrived])
    return arrived


def verify_pickup(session: Session, *, pickup_point_id: int, pickup_code: str, delivery_date: date | None) -> Order:
    q = select(Order).where(Order.pickup_point_id == pickup_point_id, Order.pickup_code == pickup_code)
    if delivery_date is not None:
        q = q.where(Order.delivery_date == delivery_date)
    # Without a date, the code is looked up among the point's open deliveries, newest first.
    candidates = list(session.exec(q.order_by(Order.delivery_date.desc())))
    if not candidates:
        raise UnknownCode("No order at this pickup point has that code.")
    order = next((o for o in candidates if o.status == S.arrived.value), candidates[0])
    if not _transition(session, order.id, (S.arrived,), S.picked_up, picked_up_at=utcnow()):
        session.refresh(order)
        raise InvalidState(f"Order {order.id} is {order.status}; only an arrived order can be picked up.",
                           status_now=order.status, order_id=order.id)
    session.refresh(order)
    hooks.fire(session, OrderEvent.picked_up, order)  # the commission domain accrues the leader's share
    return order

