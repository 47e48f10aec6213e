"""Giving back some units of delivered orders (a shortage at the point): which items they come
from, counting them once, and what of their value goes back as money or as points."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, update
from sqlmodel import Session, select

from app.order.errors import UnitsAlreadyRefunded
from app.order.models import Order, OrderItem
from app.order.queries import get_order, items_of, refunded_goods_value
from app.order.rules import money_part, points_part
from app.points import service as points_service


@dataclass
class UnitTake:
    """Units of one order item to give back."""
    item_id: int
    sku_id: int
    qty: int
    unit_price: int
    name: str = ""


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
    if order.points_used or order.coupon_discount or order.member_discount:  # (discounts are paid back to nobody)
        amount = _shortage_split(session, order, before=before, after=before + amount)
    return amount, kept == 0


def _shortage_split(session: Session, order: Order, *, before: int, after: int) -> int:
    """Goods worth after - before given back on an order partly paid with points or discounted
    (a member discount, a coupon: their share of the units is given back to nobody): answer the
    money to refund and give the points part back now. Each step is named by the refunded value
    it reaches, so a retried report gives nothing twice; the "points_back" of a later full
    refund gives only what these steps did not."""
    points = points_part(order, after) - points_part(order, before)
    points_service.credit(session, user_id=order.buyer_id, amount=points, reason=f"shortage:{after}",
                          order_id=order.id)
    return money_part(order, after) - money_part(order, before)

