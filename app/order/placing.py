"""Placing orders: one from the buyer's basket (cut-off rule, limits, atomic stock, points), and
many single-line orders at once as sets (a flash sale's drain)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, insert
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.catalog import service as catalog_service
from app.config import Settings
from app.coupons import service as coupons_service
from app.db import dialect_insert, utcnow
from app.leader import service as leader_service
from app.order.errors import NoPickupPoint, PointsOverLimit, QtyLimitExceeded, TooManyUnpaidOrders
from app.order.hooks import OrderEvent, hooks
from app.order.models import ONE_ORDER_PER_REF, Order, OrderItem, OrderSource, OrderStatus
from app.order.rules import delivery_date_for
from app.points import service as points_service
from app.queue import enqueue
from app.wallet import service as wallet_service

S = OrderStatus


@dataclass
class Line:
    sku_id: int
    qty: int
    unit_price: int | None = None  # None: the SKU's own price


def place_order(session: Session, *, settings: Settings, buyer_id: int, lines: list[Line],
                pickup_point_id: int | None, note: str | None = None,
                source: str = OrderSource.plain.value, source_ref: str | None = None,
                take_sku_stock: bool = True, dated: bool = True, points_to_use: int = 0,
                coupon_id: int | None = None) -> Order:
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
    # The buyer's member level takes its percentage off ordinary lines (at the SKU's own price) of
    # plain orders only: never off a flash-sale, group-buy or bargain price.
    member_discount = wallet_service.member_discount(session, user_id=buyer_id, line_amounts=[
        i.amount for i in items if merged[i.sku_id].unit_price is None]) if source == OrderSource.plain.value else 0
    goods -= member_discount
    # The coupon comes off after the member discount (base = goods − member discount), before
    # points; refused on campaign orders.
    discount = coupons_service.redeem(
        session, coupon_id=coupon_id, buyer_id=buyer_id, source=source, base=goods,
        lines=[coupons_service.CouponLine(skus[i.sku_id][1].id, i.amount) for i in items]) if coupon_id else 0
    goods -= discount  # (what is left to pay, in money or points)
    most = int(goods * settings.points_max_ratio)  # floor: never more than the ratio allows
    if points_to_use > most:
        raise PointsOverLimit(f"At most {most} points on this order ({settings.points_max_ratio} of {goods}).",
                              points_to_use=points_to_use, max_points=most)
    order = Order(buyer_id=buyer_id, pickup_point_id=point.id, leader_id=point.leader_id, coupon_id=coupon_id,
                  coupon_discount=discount, member_discount=member_discount,
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
    hooks.fire_set(session, OrderEvent.placed, [order.id])  # share attribution
    session.refresh(order)
    enqueue("app.order.jobs.expire_order_job", order.id, job_id=f"expire-order-{order.id}", at=order.pay_before)
    return order


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
    if not lines:
        return BulkResult({}, set(), {})
    refs = [ln.source_ref for ln in lines]
    done = dict(session.exec(select(Order.source_ref, Order.id).where(Order.source == source,
                                                                        Order.source_ref.in_(refs))).all())
    todo = [ln for ln in lines if ln.source_ref not in done]
    failed: dict[str, str] = {}
    bound = auth_service.bound_points(session, user_ids={ln.buyer_id for ln in todo})
    point_of = {ln.source_ref: ln.pickup_point_id or bound.get(ln.buyer_id) for ln in todo}
    points = leader_service.open_points(session, point_ids={p for p in point_of.values() if p})
    names = catalog_service.sku_names(session, sku_ids={ln.sku_id for ln in todo})
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
        # Core statements with a list of rows: compiled once and sent as batched VALUES
        # (SQLAlchemy's insertmanyvalues); a multi-row .values() would compile a bind per cell.
        table = Order.__table__
        created = dict(session.execute(
            dialect_insert(session, table).on_conflict_do_nothing(index_elements=["source", "source_ref"],
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
        hooks.fire_set(session, OrderEvent.placed, list(created.values()))
        done.update(created)
        # Lines another run inserted between our read and our INSERT (two drains racing).
        raced = [r["source_ref"] for r in rows if r["source_ref"] not in done]
        if raced:
            done.update(session.exec(select(Order.source_ref, Order.id).where(Order.source == source,
                                                                               Order.source_ref.in_(raced))).all())
    else:
        created = {}
    return BulkResult(done, set(created), failed)


def give_points_back(session: Session, order: Order) -> None:
    """An order cancelled, expired or refunded gives its points back, once ("points_back" is one
    movement per order whichever way it ended), less what shortage refunds already gave."""
    if order.points_used:
        given = points_service.moved(session, user_id=order.buyer_id, order_id=order.id, reason_prefix="shortage:")
        points_service.credit(session, user_id=order.buyer_id, amount=order.points_used - given,
                              reason="points_back", order_id=order.id)

