"""The operator's lists of leaders and pickup points, each row with its day's figures.

A page is one statement; its figures are then one grouped statement per kind of figure over the
page's points (orders, refunded units, fans, commission), whatever the page's size: never a
statement per row. A leader has at most one point, so a leader's figures are their point's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, or_
from sqlmodel import Session, select

from app.auth.models import User
from app.commission.models import Commission
from app.leader.models import Leader
from app.order.models import Order, OrderItem, OrderStatus
from app.order.rules import LIVE
from app.pagination import keyset
from app.pickup.geo import METERS_PER_DEG_LAT, bounding_box, coord
from app.pickup.models import PickupPoint

# A live order of the date not yet handed over: paid (not shipped yet), shipped, or at the point.
WAITING = (OrderStatus.paid.value, OrderStatus.shipped.value, OrderStatus.arrived.value)


@dataclass
class DayFigures:
    orders: int = 0
    paid_amount: int = 0
    picked_up: int = 0
    pending_pickups: int = 0
    fans: int = 0
    commission: int = 0

    @property
    def pickup_rate(self) -> float | None:
        return round(self.picked_up / self.orders, 4) if self.orders else None


def list_leaders(session: Session, *, q: str | None, phone_tail: str | None, status: str | None,
                 before_id: int | None, limit: int) -> list[tuple[Leader, PickupPoint | None]]:
    """Leaders newest first with their point (if any), searched by the leader's or the point's name,
    the phone's last digits, active or suspended."""
    stmt = select(Leader, PickupPoint).join(PickupPoint, PickupPoint.leader_id == Leader.id, isouter=True)
    if q:
        stmt = stmt.where(or_(Leader.real_name.icontains(q, autoescape=True),
                              PickupPoint.name.icontains(q, autoescape=True)))
    if phone_tail:
        stmt = stmt.where(Leader.phone.like(f"%{phone_tail}"))  # digits only (the query's pattern)
    if status:
        stmt = stmt.where(Leader.active.is_(status == "active"))
    return list(session.exec(keyset(stmt, Leader.id, before_id, limit)).all())


def list_points(session: Session, *, q: str | None, phone_tail: str | None, status: str | None,
                near: tuple[float, float, int] | None, before_id: int | None,
                limit: int) -> list[tuple[PickupPoint, Leader]]:
    """Points newest first with their leader, searched by the point's name or address, the leader's
    phone's last digits, open or closed, and within radius_m of (lat, lng) (GCJ-02)."""
    stmt = select(PickupPoint, Leader).join(Leader, Leader.id == PickupPoint.leader_id)
    if q:
        stmt = stmt.where(or_(PickupPoint.name.icontains(q, autoescape=True),
                              PickupPoint.address.icontains(q, autoescape=True)))
    if phone_tail:
        stmt = stmt.where(Leader.phone.like(f"%{phone_tail}"))
    if status:
        stmt = stmt.where(PickupPoint.active.is_(status == "open"))
    if near:
        lat, lng, radius_m = coord(near[0]), coord(near[1]), near[2]
        lat0, lat1, lng0, lng1 = bounding_box(lat, lng, radius_m)
        k = math.cos(math.radians(lat))
        # Flat-earth distance in degrees of latitude (exact enough at a few km), as the nearby search.
        dlat, dlng = PickupPoint.lat - lat, (PickupPoint.lng - lng) * k
        d2 = dlat * dlat + dlng * dlng
        stmt = stmt.where(PickupPoint.lat.between(lat0, lat1), PickupPoint.lng.between(lng0, lng1),
                          d2 <= (radius_m / METERS_PER_DEG_LAT) ** 2)
    return list(session.exec(keyset(stmt, PickupPoint.id, before_id, limit)).all())


def day_figures(session: Session, *, point_ids: list[int], day: date) -> dict[int, DayFigures]:
    """Each point's figures for the orders of delivery date `day` (four grouped statements):

    - orders, paid_amount, picked_up, pending_pickups: live orders (paid, shipped, arrived, picked
      up); paid_amount is what they were paid less units given back (as the leader's summary);
    - fans: buyers bound to the point now (not its leader);
    - commission: the leader's commission on those orders (accrued at pickup; reversed ones not).
    """
    out = {pid: DayFigures() for pid in point_ids}
    if not point_ids:
        return out
    of_day = (Order.pickup_point_id.in_(point_ids), Order.delivery_date == day, Order.status.in_(LIVE))
    for pid, n, total, picked, waiting in session.exec(
            select(Order.pickup_point_id, func.count(Order.id), func.coalesce(func.sum(Order.total), 0),
                   func.sum(case((Order.status == OrderStatus.picked_up.value, 1), else_=0)),
                   func.sum(case((Order.status.in_(WAITING), 1), else_=0)))
            .where(*of_day).group_by(Order.pickup_point_id)).all():
        f = out[pid]
        f.orders, f.paid_amount, f.picked_up, f.pending_pickups = int(n), int(total), int(picked), int(waiting)
    for pid, refunded in session.exec(
            select(Order.pickup_point_id, func.sum(OrderItem.refunded_qty * OrderItem.unit_price))
            .join(Order, Order.id == OrderItem.order_id).where(*of_day, OrderItem.refunded_qty > 0)
            .group_by(Order.pickup_point_id)).all():
        out[pid].paid_amount -= int(refunded or 0)
    for pid, n in session.exec(
            select(User.pickup_point_id, func.count(User.id))
            .join(PickupPoint, PickupPoint.id == User.pickup_point_id).join(Leader, Leader.id == PickupPoint.leader_id)
            .where(User.pickup_point_id.in_(point_ids), User.id != Leader.user_id)
            .group_by(User.pickup_point_id)).all():
        out[pid].fans = int(n)
    for pid, amount in session.exec(
            select(Order.pickup_point_id, func.sum(Commission.amount)).join(Order, Order.id == Commission.order_id)
            .where(*of_day, Commission.status != "reversed").group_by(Order.pickup_point_id)).all():
        out[pid].commission = int(amount or 0)
    return out
