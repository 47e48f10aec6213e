"""Reading orders: a buyer's, one by id, the workbench's lists and sums for a point and a date."""
from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import func
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.db import get_or_raise
from app.order.errors import OrderNotFound
from app.order.models import Order, OrderItem
from app.order.rules import AT_POINT, LIVE, sold_part
from app.pagination import keyset


def items_of(session: Session, order_ids: list[int]) -> dict[int, list[OrderItem]]:
    out: dict[int, list[OrderItem]] = defaultdict(list)
    if order_ids:
        for item in session.exec(select(OrderItem).where(OrderItem.order_id.in_(order_ids)).order_by(OrderItem.id)):
            out[item.order_id].append(item)
    return out


def orders_by_ids(session: Session, order_ids: list[int]) -> list[Order]:
    if not order_ids:
        return []
    return list(session.exec(select(Order).where(Order.id.in_(order_ids)).order_by(Order.id)))


def find_order(session: Session, *, order_id: int) -> Order | None:
    return session.get(Order, order_id)


def get_order(session: Session, order_id: int) -> Order:
    order = get_or_raise(session, Order, order_id, OrderNotFound(f"Order {order_id} does not exist."))
    return order


def lock_order(session: Session, order_id: int) -> Order:
    """One order with its row locked (PostgreSQL FOR UPDATE; SQLite serialises writers): whoever
    gives back units of it waits here for whoever is doing so already."""
    order = session.exec(select(Order).where(Order.id == order_id).with_for_update()
                         .execution_options(populate_existing=True)).first()
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


def admin_orders(session: Session, *, order_id: int | None = None, buyer_id: int | None = None,
                 phone_tail: str | None = None, pickup_point_id: int | None = None,
                 delivery_date: date | None = None, status: str | None = None, source: str | None = None,
                 before_id: int | None, limit: int) -> list[Order]:
    """The operator's search over every order, newest first; every filter given narrows it."""
    q = select(Order)
    if order_id is not None:
        q = q.where(Order.id == order_id)
    if buyer_id is not None:
        q = q.where(Order.buyer_id == buyer_id)
    if phone_tail:
        q = q.where(Order.buyer_id.in_(auth_service.users_with_phone_tail(phone_tail)))
    if pickup_point_id is not None:
        q = q.where(Order.pickup_point_id == pickup_point_id)
    if delivery_date:
        q = q.where(Order.delivery_date == delivery_date)
    if status:
        q = q.where(Order.status == status)
    if source:
        q = q.where(Order.source == source)
    return list(session.exec(keyset(q, Order.id, before_id, limit)))


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


def refunded_goods_value(session: Session, *, order_id: int) -> int:
    """What the units given back of an order cost (fen)."""
    return int(session.exec(select(func.coalesce(func.sum(OrderItem.refunded_qty * OrderItem.unit_price), 0))
                            .where(OrderItem.order_id == order_id)).one())


def commission_base(session: Session, order: Order) -> int:
    """What a leader earns commission on: what the goods sold for (what was paid plus the points
    the platform let the buyer use; a coupon's discount is not part of it) less what the units
    given back sold for (their value less their share of the coupon's discount)."""
    return sold_part(order, order.total + order.points_used + order.coupon_discount
                     - refunded_goods_value(session, order_id=order.id))


def orders_with_coupons(session: Session, *, coupon_ids, limit: int = 50) -> tuple[int, int, list[Order]]:
    """For the coupons domain's operator view, `coupon_ids` a subquery of a template's coupons:
    how many orders they discounted that were kept (not cancelled or refunded), the fen they took
    off those, and the latest `limit` orders they went on, whatever became of them."""
    kept = (Order.coupon_id.in_(coupon_ids), Order.cancelled_at.is_(None), Order.refunded_at.is_(None))
    count, off = session.exec(select(func.count(Order.id), func.coalesce(func.sum(Order.coupon_discount), 0))
                              .where(*kept)).one()
    latest = list(session.exec(select(Order).where(Order.coupon_id.in_(coupon_ids))
                               .order_by(Order.id.desc()).limit(limit)))
    return int(count), int(off), latest

