"""Orders: placing (cut-off rule, atomic stock), reading, cancelling, expiring, and the state
changes the rest of the system drives (paid, shipped, arrived, picked up, refunded)."""
from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import String, and_, cast, column, exists, func, insert, or_, table, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.catalog import service as catalog_service
from app.commission import service as commission_service
from app.config import Settings
from app.db import utcnow
from app.errors import Conflict, InvalidState, NotFound, Unprocessable
from app.leader import service as leader_service
from app.catalog.models import Product, Sku
from app.order.models import ONE_ORDER_PER_REF, Order, OrderItem, OrderSource, OrderStatus
from app.pagination import keyset
from app.points import service as points_service

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


class QtyLimitExceeded(Conflict):
    code = "qty_limit_exceeded"


class TooManyUnpaidOrders(Conflict):
    code = "too_many_unpaid_orders"


class PickupCodesExhausted(Conflict):
    code = "pickup_code_unavailable"


class PointsOverLimit(Unprocessable):
    """More points than LINLI_POINTS_MAX_RATIO of the order's total: a request that can never be
    right for this basket (422), unlike a short balance (409 insufficient_points)."""
    code = "points_over_limit"


# Other domains react to orders' state changes without the order domain knowing them: they
# register a hook for their own source (flash sale, group, bargain) or for every source ("*",
# e.g. the payment domain refunds any order that becomes refunded). A "paid" hook may refuse
# the payment by returning a reason (a full group); other hooks' return values are ignored.
ALL_SOURCES = "*"
_hooks: dict[tuple[str, str], list[Callable[[Session, Order], str | None]]] = defaultdict(list)


def on(event: str, source: str):
    def deco(fn):
        _hooks[(event, source)].append(fn)
        return fn
    return deco


# A set-based change (shipping a night's orders in one UPDATE) tells its hooks the ids at once.
_set_hooks: dict[str, list[Callable[[Session, list[int]], None]]] = defaultdict(list)


def on_set(event: str):
    def deco(fn):
        _set_hooks[event].append(fn)
        return fn
    return deco


def _fire_set(session: Session, event: str, order_ids: list[int]) -> None:
    for fn in _set_hooks[event]:
        fn(session, order_ids)


def _fire(session: Session, event: str, order: Order) -> str | None:
    """Run the hooks for the order's source, then those for every source; the first refusal
    stops the rest and is returned."""
    for fn in (*_hooks[(event, order.source)], *_hooks[(event, ALL_SOURCES)]):
        refusal = fn(session, order)
        if refusal:
            return refusal
    return None


@dataclass(frozen=True)
class PaidResult:
    """What mark_paid did: applied, or not and why ("not_payable" or a hook's refusal).
    Truthy when applied, so `if not mark_paid(...)` reads as before."""
    applied: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.applied


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
                take_sku_stock: bool = True, dated: bool = True, points_to_use: int = 0) -> Order:
    # The buyer's row lock serialises this buyer's orders, so the unpaid count below is exact
    # under any concurrency (SQLite's single writer gives the same).
    bound_point_id = auth_service.lock_buyer(session, user_id=buyer_id)
    if pickup_point_id is None:
        pickup_point_id = bound_point_id
    if pickup_point_id is None:
        raise NoPickupPoint("Give pickup_point_id or bind a pickup point first (PUT /me/pickup-point).")
    point = leader_service.require_open_point(session, pickup_point_id=pickup_point_id)

    merged: dict[int, Line] = {}
    for line in lines:
        if line.sku_id in merged:
            merged[line.sku_id].qty += line.qty
        else:
            merged[line.sku_id] = Line(line.sku_id, line.qty, line.unit_price)
    # After merging: repeating a SKU in several lines must not get round the cap.
    for line in merged.values():
        if line.qty > settings.max_qty_per_sku:
            raise QtyLimitExceeded(f"At most {settings.max_qty_per_sku} units of SKU {line.sku_id} per order.",
                                   sku_id=line.sku_id, max_qty=settings.max_qty_per_sku)
    unpaid = session.exec(select(func.count(Order.id)).where(
        Order.buyer_id == buyer_id, Order.status == S.pending_payment.value)).one()
    if unpaid >= settings.max_unpaid_orders:
        raise TooManyUnpaidOrders(f"You have {unpaid} unpaid orders; pay or cancel one first.",
                                  max_unpaid_orders=settings.max_unpaid_orders)
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
    goods = sum(i.amount for i in items)
    most = int(goods * settings.points_max_ratio)  # floor: never more than the ratio allows
    if points_to_use > most:
        raise PointsOverLimit(f"At most {most} points on this order ({settings.points_max_ratio} of {goods}).",
                              points_to_use=points_to_use, max_points=most)
    order = Order(buyer_id=buyer_id, pickup_point_id=point.id, leader_id=point.leader_id,
                  total=goods - points_to_use, points_used=points_to_use, note=note, source=source,
                  source_ref=source_ref, delivery_date=delivery_date_for(now, settings) if dated else None,
                  pay_before=now + timedelta(seconds=settings.payment_timeout_s), created_at=now)
    session.add(order)
    session.flush()
    for item in items:
        item.order_id = order.id
    session.add_all(items)
    session.flush()
    # Raises InsufficientPoints (and the whole order is rolled back) when the balance is short.
    points_service.spend(session, user_id=buyer_id, amount=points_to_use, reason="order_spend", order_id=order.id)
    attribute_shares(session, settings=settings, order_ids=[order.id], now=now)
    session.refresh(order)
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


def find_order(session: Session, *, order_id: int) -> Order | None:
    return session.get(Order, order_id)


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
    q = select(Order).where(Order.buyer_id == buyer_id)
    if status:
        q = q.where(Order.status == status)
    return list(session.exec(keyset(q, Order.id, before_id, limit)))


def _transition(session: Session, order_id: int, from_: tuple[S, ...], to: S, **values) -> bool:
    """Move an order between states in one conditional UPDATE: the winner of a race is the one
    whose UPDATE matched, so every transition happens at most once."""
    # synchronize_session=False: the ORM must not "evaluate" the WHERE against a stale loaded
    # order and mark it moved when the database matched nothing (a race lost); callers refresh.
    n = session.exec(update(Order).where(Order.id == order_id, Order.status.in_([s.value for s in from_]))
                     .values(status=to.value, **values).execution_options(synchronize_session=False)).rowcount
    return bool(n)


# Orders whose units came from the SKU's own stock (a flash sale's come from the sale's).
SKU_STOCK_SOURCES = (OrderSource.plain.value, OrderSource.group.value, OrderSource.bargain.value)


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
    _fire(session, "cancelled", order)
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
        _fire(session, "cancelled", order)
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


def ensure_payable(session: Session, order: Order) -> None:
    if order.status != S.pending_payment.value:
        raise InvalidState(f"Order {order.id} is {order.status}, not pending_payment.", status_now=order.status)
    if order.pay_before is not None and order.pay_before <= utcnow():
        cancel_unpaid(session, order_id=order.id, reason="payment_timeout")
        raise PaymentExpired(f"Order {order.id} was not paid in time and is cancelled.")


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
    refusal = _fire(session, "paid", order)
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


def shippable_clause():
    """The one SQL predicate that says a paid order may ship. Group-buy orders wait for their
    group to succeed: a group order ships only through a membership of a succeeded group.

    The group-buy tables are named here, not imported: group-buy depends on orders, not back."""
    member, group = table("group_members", column("order_id"), column("group_id")), \
        table("buy_groups", column("id"), column("status"))
    succeeded = exists().where(member.c.order_id == Order.id, group.c.id == member.c.group_id,
                               group.c.status == "succeeded")
    return or_(Order.source != OrderSource.group.value, succeeded)


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
    _fire_set(session, "shipped", ids)
    return len(ids)


def ship_paid_orders(session: Session, *, delivery_date: date, pickup_point_id: int | None = None) -> list[int]:
    """The same set-based UPDATE, for one point if given, answering the ids it shipped."""
    ids = sorted(session.execute(_ship(delivery_date, utcnow(), pickup_point_id)).scalars().all())
    _fire_set(session, "shipped", ids)
    return ids


# ---- the leader's side -------------------------------------------------------------------

def leader_orders(session: Session, *, pickup_point_id: int, delivery_date: date | None, status: str | None,
                  before_id: int | None, limit: int) -> list[tuple[Order, str]]:
    q = select(Order).where(Order.pickup_point_id == pickup_point_id)
    if delivery_date:
        q = q.where(Order.delivery_date == delivery_date)
    if status:
        q = q.where(Order.status == status)
    orders = list(session.exec(keyset(q, Order.id, before_id, limit)))
    names = auth_service.nicknames(session, user_ids=[o.buyer_id for o in orders])
    return [(o, names.get(o.buyer_id, "")) for o in orders]


LIVE = (S.paid.value, S.shipped.value, S.arrived.value, S.picked_up.value)


def leader_summary(session: Session, *, pickup_point_id: int, delivery_date: date):
    """Order count, per-SKU quantities and order totals for one point and date, aggregated in SQL.
    Units given back for a shortage are not counted (neither goods to hand out nor earnings)."""
    live = (Order.pickup_point_id == pickup_point_id, Order.delivery_date == delivery_date, Order.status.in_(LIVE))
    count, total = session.exec(select(func.count(Order.id), func.coalesce(func.sum(Order.total), 0))
                                .where(*live)).one()
    refunded = session.exec(select(func.coalesce(func.sum(OrderItem.refunded_qty * OrderItem.unit_price), 0))
                            .join(Order, Order.id == OrderItem.order_id).where(*live)).one()
    total = int(total) - int(refunded)
    lines = session.exec(
        select(OrderItem.sku_id, OrderItem.product_name, OrderItem.sku_name,
               func.sum(OrderItem.qty - OrderItem.refunded_qty))
        .join(Order, Order.id == OrderItem.order_id).where(*live)
        .group_by(OrderItem.sku_id, OrderItem.product_name, OrderItem.sku_name)
        .having(func.sum(OrderItem.qty - OrderItem.refunded_qty) > 0).order_by(OrderItem.sku_id)
    ).all()
    return int(count), int(total), lines


def receive_delivery(session: Session, *, pickup_point_id: int, delivery_date: date) -> list[Order]:
    """shipped → arrived for everything delivered to this point for this date."""
    ids = list(session.exec(select(Order.id).where(Order.pickup_point_id == pickup_point_id,
                                                   Order.delivery_date == delivery_date,
                                                   Order.status == S.shipped.value)))
    now = utcnow()
    arrived = [get_order(session, i) for i in ids if _transition(session, i, (S.shipped,), S.arrived, arrived_at=now)]
    for order in arrived:
        _fire(session, "arrived", order)
    return arrived


# ---- shortages: units that never reached the point -----------------------------------------

# Orders whose goods are at (or on their way to) the point and not yet handed over: the only
# ones a shortage can take units from.
AT_POINT = (S.shipped, S.arrived)


@dataclass
class UnitTake:
    """Units of one order item to give back."""
    item_id: int
    sku_id: int
    qty: int
    unit_price: int
    name: str = ""


def lock_orders_at_point(session: Session, *, pickup_point_id: int, delivery_date: date) -> list[Order]:
    """The date's shipped and arrived orders at the point, latest-paid first, locked (PostgreSQL:
    FOR UPDATE, taken in that one order by every caller, so two reports queue instead of
    deadlocking; a pickup racing a report waits for it; SQLite serialises writers anyway)."""
    return list(session.exec(
        select(Order).where(Order.pickup_point_id == pickup_point_id, Order.delivery_date == delivery_date,
                            Order.status.in_([s.value for s in AT_POINT]))
        .order_by(Order.paid_at.desc(), Order.id.desc()).with_for_update()))


def shipped_units(session: Session, *, pickup_point_id: int, delivery_date: date, sku_ids: list[int]) -> dict[int, int]:
    """Units of each SKU that were shipped to the point for the date (whatever became of them)."""
    rows = session.exec(select(OrderItem.sku_id, func.sum(OrderItem.qty)).join(Order, Order.id == OrderItem.order_id)
                        .where(Order.pickup_point_id == pickup_point_id, Order.delivery_date == delivery_date,
                               Order.shipped_at.is_not(None), OrderItem.sku_id.in_(sku_ids))
                        .group_by(OrderItem.sku_id)).all()
    return {sku_id: int(q) for sku_id, q in rows}


def plan_unit_refunds(session: Session, *, orders: list[Order], units_by_sku: dict[int, int]
                      ) -> tuple[dict[int, list[UnitTake]], dict[int, int]]:
    """Spread the units to give back of each SKU over the orders given (in their order: latest
    paid first), never more than an item still has. Returns the takes per order id (in the
    orders' order) and, per SKU, the units that found no order left to come from."""
    items = items_of(session, [o.id for o in orders])
    plan: dict[int, list[UnitTake]] = {}
    left = {sku: n for sku, n in units_by_sku.items() if n > 0}
    for order in orders:
        for item in items[order.id]:
            want = left.get(item.sku_id, 0)
            n = min(want, item.qty - item.refunded_qty)
            if n > 0:
                plan.setdefault(order.id, []).append(UnitTake(item.id, item.sku_id, n, item.unit_price,
                                                              f"{item.product_name} {item.sku_name}".strip()))
                left[item.sku_id] = want - n
    return plan, {sku: n for sku, n in left.items() if n > 0}


class UnitsAlreadyRefunded(Conflict):
    code = "units_already_refunded"


def refund_units(session: Session, *, order_id: int, takes: list[UnitTake]) -> tuple[int, bool]:
    """Count the units given back on their items (each a conditional UPDATE that keeps
    refunded_qty <= qty), and answer what they cost and whether the order has nothing left.
    An order with nothing left becomes refunded (its hooks give back what is left of its payment
    and reverse its commission), so the caller refunds the amount first."""
    order = get_order(session, order_id)
    before = refunded_goods_value(session, order_id=order_id)
    amount = 0
    for t in takes:
        n = session.exec(update(OrderItem).where(OrderItem.id == t.item_id, OrderItem.order_id == order_id,
                                                 OrderItem.refunded_qty + t.qty <= OrderItem.qty)
                         .values(refunded_qty=OrderItem.refunded_qty + t.qty)
                         .execution_options(synchronize_session=False)).rowcount
        if not n:
            raise UnitsAlreadyRefunded(f"Order {order_id} has fewer than {t.qty} units of SKU {t.sku_id} left.",
                                       order_id=order_id, sku_id=t.sku_id)
        amount += t.qty * t.unit_price
    kept = session.exec(select(func.count(OrderItem.id)).where(OrderItem.order_id == order_id,
                                                               OrderItem.refunded_qty < OrderItem.qty)).one()
    if order.points_used:
        amount = _shortage_split(session, order, before=before, after=before + amount)
    return amount, kept == 0


def money_part(order: Order, value: int) -> int:
    """What of `value` fen of an order's goods was paid in money (the rest in points), floored:
    over all the goods it is exactly order.total, so partial refunds never give back more money
    than was paid."""
    goods = order.total + order.points_used
    return value * order.total // goods if goods else 0


def _shortage_split(session: Session, order: Order, *, before: int, after: int) -> int:
    """Goods worth after - before given back on an order partly paid with points: answer the
    money to refund and give the points part back now. Each step is named by the refunded value
    it reaches, so a retried report gives nothing twice; the "points_back" of a later full
    refund gives only what these steps did not."""
    points = (after - money_part(order, after)) - (before - money_part(order, before))
    points_service.credit(session, user_id=order.buyer_id, amount=points, reason=f"shortage:{after}",
                          order_id=order.id)
    return money_part(order, after) - money_part(order, before)


def refunded_goods_value(session: Session, *, order_id: int) -> int:
    """What the units given back of an order cost (fen)."""
    return int(session.exec(select(func.coalesce(func.sum(OrderItem.refunded_qty * OrderItem.unit_price), 0))
                            .where(OrderItem.order_id == order_id)).one())


def commission_base(session: Session, order: Order) -> int:
    """What a leader earns commission on: the goods' value (what was paid plus the points the
    platform let the buyer use) less the units given back."""
    return order.total + order.points_used - refunded_goods_value(session, order_id=order.id)


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
    _fire(session, "picked_up", order)
    commission_service.accrue(session, settings=settings, order_id=order.id, leader_id=order.leader_id,
                              total=commission_base(session, order), picked_up_at=order.picked_up_at)
    return order


# ---- many single-line orders at once (a flash sale's drain) -----------------------------------

@dataclass
class BulkLine:
    source_ref: str
    buyer_id: int
    pickup_point_id: int | None  # None: the buyer's bound point
    sku_id: int
    qty: int
    unit_price: int


@dataclass
class BulkResult:
    orders: dict[str, int]  # source_ref → order id, for every line that has an order (new or earlier)
    created: set[str]  # the source_refs whose order this call created
    failed: dict[str, str]  # source_ref → why it cannot be an order


def place_orders_bulk(session: Session, *, settings: Settings, source: str, lines: list[BulkLine],
                      pay_timeout_s: int) -> BulkResult:
    """Create one pending_payment order per line, as sets: one INSERT for the orders (ON CONFLICT
    on (source, source_ref) DO NOTHING, so a batch run twice creates nothing twice), one for their
    items. No per-order timer job: the expiry sweep finds them by (status, pay_before).

    The units are the caller's (a flash sale's own stock), so no SKU stock is taken, and the
    buyer's unpaid-orders cap does not apply: the caller's own rule (a per-user limit) already
    bounded what the buyer holds."""
    from sqlalchemy.dialects import postgresql, sqlite

    from app.auth.models import User
    from app.leader.models import Leader
    from app.pickup.models import PickupPoint

    if not lines:
        return BulkResult({}, set(), {})
    refs = [ln.source_ref for ln in lines]
    done = dict(session.exec(select(Order.source_ref, Order.id).where(Order.source == source,
                                                                        Order.source_ref.in_(refs))).all())
    todo = [ln for ln in lines if ln.source_ref not in done]
    failed: dict[str, str] = {}
    bound = dict(session.exec(select(User.id, User.pickup_point_id)
                              .where(User.id.in_({ln.buyer_id for ln in todo}))).all()) if todo else {}
    point_of = {ln.source_ref: ln.pickup_point_id or bound.get(ln.buyer_id) for ln in todo}
    points = {pid: lid for pid, lid in session.exec(
        select(PickupPoint.id, PickupPoint.leader_id).join(Leader, Leader.id == PickupPoint.leader_id)
        .where(PickupPoint.id.in_({p for p in point_of.values() if p}), PickupPoint.active.is_(True),
               Leader.active.is_(True))).all()} if todo else {}
    names = {sku.id: (product.name, sku.name) for sku, product in session.exec(
        select(Sku, Product).join(Product, Product.id == Sku.product_id)
        .where(Sku.id.in_({ln.sku_id for ln in todo}))).all()} if todo else {}
    now = utcnow()
    rows = []
    for ln in todo:
        point_id = point_of[ln.source_ref]
        if point_id is None:
            failed[ln.source_ref] = "no_pickup_point"
        elif point_id not in points:
            failed[ln.source_ref] = "pickup_point_unavailable"
        elif ln.sku_id not in names:
            failed[ln.source_ref] = "sku_not_found"
        else:
            rows.append(dict(buyer_id=ln.buyer_id, pickup_point_id=point_id, leader_id=points[point_id],
                             status=S.pending_payment.value, source=source, source_ref=ln.source_ref,
                             total=ln.unit_price * ln.qty, delivery_date=delivery_date_for(now, settings),
                             pay_before=now + timedelta(seconds=pay_timeout_s), created_at=now))
    if rows:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        # Core statements with a list of rows: compiled once and sent as batched VALUES
        # (SQLAlchemy's insertmanyvalues); a multi-row .values() would compile a bind per cell.
        table = Order.__table__
        created = dict(session.execute(
            dialect.insert(table).on_conflict_do_nothing(index_elements=["source", "source_ref"],
                                                       index_where=ONE_ORDER_PER_REF)
            .returning(table.c.source_ref, table.c.id), rows).all())
        by_ref = {ln.source_ref: ln for ln in todo}
        items = []
        for ref, order_id in created.items():
            ln = by_ref[ref]
            product_name, sku_name = names[ln.sku_id]
            items.append(dict(order_id=order_id, sku_id=ln.sku_id, product_name=product_name, sku_name=sku_name,
                              qty=ln.qty, unit_price=ln.unit_price, amount=ln.unit_price * ln.qty))
        if items:
            session.execute(insert(OrderItem.__table__), items)
        attribute_shares(session, settings=settings, order_ids=list(created.values()), now=now)
        done.update(created)
        # Lines another run inserted between our read and our INSERT (two drains racing).
        raced = [r["source_ref"] for r in rows if r["source_ref"] not in done]
        if raced:
            done.update(session.exec(select(Order.source_ref, Order.id).where(Order.source == source,
                                                                               Order.source_ref.in_(raced))).all())
    else:
        created = {}
    return BulkResult(done, set(created), failed)


# ---- points and shares ---------------------------------------------------------------------

@on("cancelled", ALL_SOURCES)
@on("refunded", ALL_SOURCES)
def _points_back(session: Session, order: Order) -> None:
    """An order cancelled, expired or refunded gives its points back, once ("points_back" is one
    movement per order whichever way it ended), less what shortage refunds already gave."""
    if order.points_used:
        given = points_service.moved(session, user_id=order.buyer_id, order_id=order.id, reason_prefix="shortage:")
        points_service.credit(session, user_id=order.buyer_id, amount=order.points_used - given,
                              reason="points_back", order_id=order.id)


def attribute_shares(session: Session, *, settings: Settings, order_ids: list[int], now: datetime) -> None:
    """Set share_token on new orders, in ONE set-based UPDATE whatever their number: for each
    order, the share its buyer opened most recently within LINLI_SHARE_ATTRIBUTION_DAYS whose
    target the order contains (a SKU of the shared product; the shared flash sale, group or
    bargain record as the order's source), never one the buyer shared. The share tables are
    read, never written: shares depend on orders, not back."""
    if not order_ids:
        return
    from app.catalog.models import Sku
    from app.share.models import Share, ShareOpen

    o, item, sku = Order.__table__, OrderItem.__table__, Sku.__table__
    sh, op = Share.__table__, ShareOpen.__table__
    target = cast(sh.c.target_id, String)
    contains = or_(
        and_(sh.c.target_type == "product",
             exists().where(item.c.order_id == o.c.id, sku.c.id == item.c.sku_id, sku.c.product_id == sh.c.target_id)),
        # A flash order's ref is "<sale id>-<reservation n>"; a group's and a bargain's the id itself.
        and_(sh.c.target_type == "flash_sale", o.c.source == OrderSource.flash_sale.value,
             o.c.source_ref.like(target + "-%")),
        and_(sh.c.target_type == "group", o.c.source == OrderSource.group.value, o.c.source_ref == target),
        and_(sh.c.target_type == "bargain_record", o.c.source == OrderSource.bargain.value, o.c.source_ref == target))
    token = (select(sh.c.token).select_from(op.join(sh, sh.c.id == op.c.share_id))
             .where(op.c.visitor_id == o.c.buyer_id, sh.c.sharer_id != o.c.buyer_id,
                    op.c.opened_at >= now - timedelta(days=settings.share_attribution_days), op.c.opened_at <= now,
                    contains)
             .order_by(op.c.opened_at.desc(), op.c.id.desc()).limit(1).scalar_subquery())
    session.execute(update(o).where(o.c.id.in_(order_ids)).values(share_token=token)
                    .execution_options(synchronize_session=False))
