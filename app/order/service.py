"""Orders: placing (cut-off rule, atomic stock), reading, cancelling, expiring, and the state
changes the rest of the system drives (paid, shipped, arrived, picked up, refunded)."""
from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.auth.models import User
from app.catalog import service as catalog_service
from app.commission import service as commission_service
from app.config import Settings
from app.db import utcnow
from app.errors import Conflict, InvalidState, NotFound, Unprocessable
from app.order.models import Order, OrderItem, OrderSource, OrderStatus
from app.pickup import service as pickup_service
from app.pickup.models import PickupPoint

S = OrderStatus


class OrderNotFound(NotFound):
    code = "order_not_found"


class NoPickupPoint(Unprocessable):
    code = "no_pickup_point"


class PaymentExpired(Conflict):
    code = "payment_expired"
    keep_work = True  # the order is cancelled as it is refused


class UnknownCode(NotFound):
    code = "unknown_code"


# Later domains (flash sale, group-buy, bargain) react to their own orders' state changes
# without the order domain knowing them: they register a hook for their source.
_hooks: dict[tuple[str, str], list[Callable[[Session, Order], None]]] = defaultdict(list)


def on(event: str, source: str):
    def deco(fn):
        _hooks[(event, source)].append(fn)
        return fn
    return deco


def _fire(session: Session, event: str, order: Order) -> None:
    for fn in _hooks[(event, order.source)]:
        fn(session, order)


def delivery_date_for(moment: datetime, settings: Settings) -> date:
    """Order before the cut-off: tomorrow; at or after it: the day after tomorrow (local time)."""
    local = moment.astimezone(settings.tz)
    days = 1 if local.time() < settings.order_cutoff else 2
    return local.date() + timedelta(days=days)


def local_today(settings: Settings, moment: datetime | None = None) -> date:
    return (moment or utcnow()).astimezone(settings.tz).date()


@dataclass
class Line:
    sku_id: int
    qty: int
    unit_price: int | None = None  # None: the SKU's own price


def place_order(session: Session, *, settings: Settings, buyer_id: int, lines: list[Line],
                pickup_point_id: int | None, note: str | None = None,
                source: str = OrderSource.plain.value, source_ref: str | None = None,
                take_sku_stock: bool = True, dated: bool = True) -> Order:
    if pickup_point_id is None:
        pickup_point_id = session.exec(select(User.pickup_point_id).where(User.id == buyer_id)).first()
    if pickup_point_id is None:
        raise NoPickupPoint("Give pickup_point_id or bind a pickup point first (PUT /me/pickup-point).")
    point = pickup_service.require_active_point(session, pickup_point_id)

    merged: dict[int, Line] = {}
    for line in lines:
        if line.sku_id in merged:
            merged[line.sku_id].qty += line.qty
        else:
            merged[line.sku_id] = Line(line.sku_id, line.qty, line.unit_price)
    skus = catalog_service.sellable_skus(session, list(merged))
    # Take stock in SKU order so that two orders never wait on each other's rows (no deadlock).
    if take_sku_stock:
        for sku_id in sorted(merged):
            catalog_service.take_stock(session, sku_id=sku_id, qty=merged[sku_id].qty)

    now = utcnow()
    items = []
    for sku_id, line in merged.items():
        sku, product = skus[sku_id]
        price = sku.price if line.unit_price is None else line.unit_price
        items.append(OrderItem(sku_id=sku_id, product_name=product.name, sku_name=sku.name, qty=line.qty,
                               unit_price=price, amount=price * line.qty))
    order = Order(buyer_id=buyer_id, pickup_point_id=point.id, leader_id=point.leader_id,
                  total=sum(i.amount for i in items), note=note, source=source, source_ref=source_ref,
                  delivery_date=delivery_date_for(now, settings) if dated else None,
                  pay_before=now + timedelta(seconds=settings.payment_timeout_s), created_at=now)
    session.add(order)
    session.flush()
    for item in items:
        item.order_id = order.id
    session.add_all(items)
    session.flush()
    from app.order.jobs import expire_order_job
    from app.queue import enqueue

    enqueue(expire_order_job, order.id, job_id=f"expire-order-{order.id}", at=order.pay_before)
    return order


def items_of(session: Session, order_ids: list[int]) -> dict[int, list[OrderItem]]:
    out: dict[int, list[OrderItem]] = defaultdict(list)
    if order_ids:
        for item in session.exec(select(OrderItem).where(OrderItem.order_id.in_(order_ids)).order_by(OrderItem.id)):
            out[item.order_id].append(item)
    return out


def get_order(session: Session, order_id: int) -> Order:
    order = session.get(Order, order_id)
    if order is None:
        raise OrderNotFound(f"Order {order_id} does not exist.")
    return order


def get_buyer_order(session: Session, *, order_id: int, buyer_id: int) -> Order:
    order = session.get(Order, order_id)
    # Another buyer's order answers exactly like a missing one: existence is not revealed.
    if order is None or order.buyer_id != buyer_id:
        raise OrderNotFound(f"Order {order_id} does not exist.")
    return order


def list_buyer_orders(session: Session, *, buyer_id: int, status: str | None, before_id: int | None,
                      limit: int) -> list[Order]:
    q = select(Order).where(Order.buyer_id == buyer_id).order_by(Order.id.desc()).limit(limit + 1)
    if status:
        q = q.where(Order.status == status)
    if before_id:
        q = q.where(Order.id < before_id)
    return list(session.exec(q))


def _transition(session: Session, order_id: int, from_: tuple[S, ...], to: S, **values) -> bool:
    """Move an order between states in one conditional UPDATE: the winner of a race is the one
    whose UPDATE matched, so every transition happens at most once."""
    n = session.exec(update(Order).where(Order.id == order_id, Order.status.in_([s.value for s in from_]))
                     .values(status=to.value, **values)).rowcount
    return bool(n)


def _return_stock(session: Session, order: Order) -> None:
    if order.source in (OrderSource.plain.value, OrderSource.group.value, OrderSource.bargain.value):
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
    _fire(session, "cancelled", order)
    return True


def expire_if_due(session: Session, *, order_id: int, now: datetime | None = None) -> bool:
    now = now or utcnow()
    order = session.get(Order, order_id)
    if order is None or order.status != S.pending_payment.value or order.pay_before is None or order.pay_before > now:
        return False
    return cancel_unpaid(session, order_id=order_id, reason="payment_timeout")


def overdue_unpaid_ids(session: Session, *, now: datetime, limit: int = 500) -> list[int]:
    return list(session.exec(select(Order.id).where(Order.status == S.pending_payment.value,
                                                    Order.pay_before <= now).order_by(Order.id).limit(limit)))


def cancel_by_buyer(session: Session, *, order_id: int, buyer_id: int) -> Order:
    order = get_buyer_order(session, order_id=order_id, buyer_id=buyer_id)
    if order.status == S.pending_payment.value and cancel_unpaid(session, order_id=order_id, reason="buyer"):
        session.refresh(order)
        return order
    if order.status == S.paid.value:
        from app.payment import service as payment_service

        payment_service.refund_order(session, order_id=order_id, reason="buyer_cancelled")
        session.refresh(order)
        return order
    raise InvalidState(f"An order that is {order.status} cannot be cancelled.", status_now=order.status)


def ensure_payable(session: Session, order: Order) -> None:
    if order.status != S.pending_payment.value:
        raise InvalidState(f"Order {order.id} is {order.status}, not pending_payment.", status_now=order.status)
    if order.pay_before is not None and order.pay_before <= utcnow():
        cancel_unpaid(session, order_id=order.id, reason="payment_timeout")
        raise PaymentExpired(f"Order {order.id} was not paid in time and is cancelled.")


def mark_paid(session: Session, *, order_id: int, paid_at: datetime) -> bool:
    """pending_payment → paid; False if the order is no longer payable (expired, cancelled)."""
    if not _transition(session, order_id, (S.pending_payment,), S.paid, paid_at=paid_at):
        return False
    order = get_order(session, order_id)
    session.refresh(order)
    if order.delivery_date is not None:
        assign_pickup_code(session, order)
    _fire(session, "paid", order)
    return True


def mark_refunded(session: Session, *, order_id: int, allowed_from: tuple[S, ...] = (S.paid,),
                  reason: str = "") -> Order:
    if not _transition(session, order_id, allowed_from, S.refunded, refunded_at=utcnow(), cancel_reason=reason):
        order = get_order(session, order_id)
        raise InvalidState(f"An order that is {order.status} cannot be refunded.", status_now=order.status)
    order = get_order(session, order_id)
    session.refresh(order)
    if order.shipped_at is None:
        _return_stock(session, order)
    commission_service.reverse(session, order_id=order.id)
    _fire(session, "refunded", order)
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
    for _ in range(50):
        code = f"{secrets.randbelow(1_000_000):06d}"
        try:
            with session.begin_nested():
                session.exec(update(Order).where(Order.id == order.id).values(pickup_code=code))
        except IntegrityError:
            continue
        order.pickup_code = code
        return code
    raise Conflict("Could not draw a free pickup code; try again.")


def shippable_clause():
    """The one SQL predicate that says a paid order may ship. Group-buy orders wait for their
    group to succeed: until the group-buy domain joins its groups table in here, none ships."""
    return Order.source != OrderSource.group.value


def _ship(delivery_date: date, now: datetime, pickup_point_id: int | None = None):
    stmt = (update(Order).where(Order.status == S.paid.value, Order.delivery_date == delivery_date, shippable_clause())
            .values(status=S.shipped.value, shipped_at=now).execution_options(synchronize_session=False))
    return stmt if pickup_point_id is None else stmt.where(Order.pickup_point_id == pickup_point_id)


def ship_for_delivery(session: Session, *, delivery_date: date, now: datetime) -> int:
    """paid → shipped for every shippable order of a delivery date, in one UPDATE (the nightly
    manifest build). Idempotent: a shipped order no longer matches `status = 'paid'`."""
    return session.exec(_ship(delivery_date, now)).rowcount


def ship_paid_orders(session: Session, *, delivery_date: date, pickup_point_id: int | None = None) -> list[int]:
    """The same set-based UPDATE, for one point if given, answering the ids it shipped."""
    rows = session.exec(_ship(delivery_date, utcnow(), pickup_point_id).returning(Order.id)).all()
    return sorted(r[0] for r in rows)


# ---- the leader's side -------------------------------------------------------------------

def leader_orders(session: Session, *, pickup_point_id: int, delivery_date: date | None, status: str | None,
                  before_id: int | None, limit: int) -> list[tuple[Order, str]]:
    q = (select(Order, User.nickname).join(User, User.id == Order.buyer_id)
         .where(Order.pickup_point_id == pickup_point_id).order_by(Order.id.desc()).limit(limit + 1))
    if delivery_date:
        q = q.where(Order.delivery_date == delivery_date)
    if status:
        q = q.where(Order.status == status)
    if before_id:
        q = q.where(Order.id < before_id)
    return list(session.exec(q))


LIVE = (S.paid.value, S.shipped.value, S.arrived.value, S.picked_up.value)


def leader_summary(session: Session, *, pickup_point_id: int, delivery_date: date):
    """Order count, per-SKU quantities and order totals for one point and date, aggregated in SQL."""
    live = (Order.pickup_point_id == pickup_point_id, Order.delivery_date == delivery_date, Order.status.in_(LIVE))
    count, total = session.exec(select(func.count(Order.id), func.coalesce(func.sum(Order.total), 0))
                                .where(*live)).one()
    lines = session.exec(
        select(OrderItem.sku_id, OrderItem.product_name, OrderItem.sku_name, func.sum(OrderItem.qty))
        .join(Order, Order.id == OrderItem.order_id).where(*live)
        .group_by(OrderItem.sku_id, OrderItem.product_name, OrderItem.sku_name).order_by(OrderItem.sku_id)
    ).all()
    return int(count), int(total), lines


def receive_delivery(session: Session, *, pickup_point_id: int, delivery_date: date) -> list[Order]:
    """shipped → arrived for everything delivered to this point for this date."""
    ids = list(session.exec(select(Order.id).where(Order.pickup_point_id == pickup_point_id,
                                                   Order.delivery_date == delivery_date,
                                                   Order.status == S.shipped.value)))
    now = utcnow()
    arrived = [i for i in ids if _transition(session, i, (S.shipped,), S.arrived, arrived_at=now)]
    return [get_order(session, i) for i in arrived]


def verify_pickup(session: Session, *, settings: Settings, pickup_point_id: int, pickup_code: str,
                  delivery_date: date | None) -> Order:
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
    commission_service.accrue(session, settings=settings, order_id=order.id, leader_id=order.leader_id,
                              total=order.total, picked_up_at=order.picked_up_at)
    return order
