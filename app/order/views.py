"""Shape orders for the API (shared by buyer, leader and later domains' responses)."""
from __future__ import annotations

from sqlmodel import Session

from app.order import queries as order_queries
from app.order import rules as order_rules
from app.order.models import Order, OrderItem
from app.order.schemas import BuyerBrief, ItemOut, LeaderOrder, OrderPublic


def item_out(i: OrderItem) -> ItemOut:
    return ItemOut(sku_id=i.sku_id, name=f"{i.product_name} {i.sku_name}".strip(), product_name=i.product_name,
                   sku_name=i.sku_name, qty=i.qty, unit_price=i.unit_price, amount=i.amount,
                   refunded_qty=i.refunded_qty)


def order_public(o: Order, items: list[OrderItem]) -> OrderPublic:
    data = o.model_dump()
    data["items"] = [item_out(i) for i in items]
    if o.status not in order_rules.LIVE:
        data["pickup_code"] = None  # a cancelled or refunded order's code is void
    return OrderPublic(**data)


def orders_public(session: Session, orders: list[Order]) -> list[OrderPublic]:
    items = order_queries.items_of(session, [o.id for o in orders])
    return [order_public(o, items[o.id]) for o in orders]


def order_public_one(session: Session, order: Order) -> OrderPublic:
    return orders_public(session, [order])[0]


def leader_orders(session: Session, rows: list[tuple[Order, str]]) -> list[LeaderOrder]:
    items = order_queries.items_of(session, [o.id for o, _ in rows])
    return [LeaderOrder(**o.model_dump(exclude={"pickup_code"}), items=[item_out(i) for i in items[o.id]],
                        buyer=BuyerBrief(id=o.buyer_id, nickname=nick)) for o, nick in rows]
