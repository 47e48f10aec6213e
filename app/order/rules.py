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


def money_part(order: Order, value: int) -> int:
    """What of `value` fen of an order's goods was paid in money (the rest in points, or taken off
    by the member discount), floored: over all the goods it is exactly order.total, so partial
    refunds never give back more money than was paid."""
    goods = order.total + order.points_used + order.member_discount
    return value * order.total // goods if goods else 0


def points_part(order: Order, value: int) -> int:
    """What of `value` fen of an order's goods was paid in points: the rest once the money and
    the member discount's share (floored) are taken, so over all the goods it is points_used."""
    goods = order.total + order.points_used + order.member_discount
    discount = value * order.member_discount // goods if goods else 0
    return value - money_part(order, value) - discount


def shippable_clause():
    """The one SQL predicate that says a paid order may ship. Group-buy orders wait for their
    group to succeed: a group order ships only through a membership of a succeeded group.

    The group-buy tables are named here, not imported: group-buy depends on orders, not back."""
    member, group = table("group_members", column("order_id"), column("group_id")), \
        table("buy_groups", column("id"), column("status"))
    succeeded = exists().where(member.c.order_id == Order.id, group.c.id == member.c.group_id,
                               group.c.status == "succeeded")
    return or_(Order.source != OrderSource.group.value, succeeded)

