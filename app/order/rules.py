"""The order rules other modules share: delivery dates, local days, which statuses count, which
orders took SKU stock, what of a value was paid in money, and when a paid order may ship."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import column, exists, or_, table

from app.config import Settings
from app.db import utcnow
from app.order.models import Order, OrderSource, OrderStatus

S = OrderStatus


def delivery_date_for(moment: datetime, settings: Settings) -> date:
    """Order before the cut-off: tomorrow; at or after it: the day after tomorrow (local time)."""
    local = moment.astimezone(settings.tz)
    days = 1 if local.time() < settings.order_cutoff else 2
    return local.date() + timedelta(days=days)


def local_today(settings: Settings, moment: datetime | None = None) -> date:
    return (moment or utcnow()).astimezone(settings.tz).date()


# Orders whose units came from the SKU's own stock (a flash sale's come from the sale's).
SKU_STOCK_SOURCES = (OrderSource.plain.value, OrderSource.group.value, OrderSource.bargain.value)


LIVE = (S.paid.value, S.shipped.value, S.arrived.value, S.picked_up.value)


# Orders whose goods are at (or on their way to) the point and not yet handed over: the only
# ones a shortage can take units from.
AT_POINT = (S.shipped, S.arrived)


def goods_value(order: Order) -> int:
    """What the order's goods are worth at their prices: paid in money, in points, or taken off
    by the member discount or a coupon."""
    return order.total + order.points_used + order.coupon_discount + order.member_discount


def money_part(order: Order, value: int) -> int:
    """What of `value` fen of an order's goods was paid in money (the rest in points, or taken off
    by the member discount or the coupon: a partial refund splits the discounts in proportion),
    floored: over all the goods it is exactly order.total, so partial refunds never give back more
    money than was paid."""
    goods = goods_value(order)
    return value * order.total // goods if goods else 0


def points_part(order: Order, value: int) -> int:
    """What of `value` fen of an order's goods was paid in points: what money and the two
    discounts' shares (floored) leave, so over all the goods it is exactly points_used."""
    goods = goods_value(order)
    discounts = value * (order.coupon_discount + order.member_discount) // goods if goods else 0
    return value - money_part(order, value) - discounts


def sold_part(order: Order, value: int) -> int:
    """What `value` fen of an order's goods sold for: less their share of the member discount and
    the coupon's discount."""
    goods = goods_value(order)
    return value * (goods - order.coupon_discount - order.member_discount) // goods if goods else 0


def shippable_clause():
    """The one SQL predicate that says a paid order may ship. Group-buy orders wait for their
    group to succeed: a group order ships only through a membership of a succeeded group.

    The group-buy tables are named here, not imported: group-buy depends on orders, not back."""
    member, group = table("group_members", column("order_id"), column("group_id")), \
        table("buy_groups", column("id"), column("status"))
    succeeded = exists().where(member.c.order_id == Order.id, group.c.id == member.c.group_id,
                               group.c.status == "succeeded")
    return or_(Order.source != OrderSource.group.value, succeeded)

