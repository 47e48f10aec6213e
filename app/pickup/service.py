"""Pickup points: creation on approval, lookups and the nearby search."""
from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import and_, select as sa_select
from sqlmodel import Session, select

from app.auth.models import User
from app.errors import NotFound
from app.leader.models import Leader
from app.pickup.geo import METERS_PER_DEG_LAT, bounding_box, distance_m
from app.pickup.models import PickupPoint


class PickupPointNotFound(NotFound):
    code = "pickup_point_not_found"


@dataclass
class NearbyPoint:
    id: int
    name: str
    address: str
    lat: float
    lng: float
    distance_m: int
    service_radius_m: int
    leader_id: int
    leader_nickname: str


def create_point(session: Session, *, leader_id: int, name: str, address: str, lat: float, lng: float,
                 service_radius_m: int, opening_hours: str | None) -> PickupPoint:
    point = PickupPoint(leader_id=leader_id, name=name, address=address, lat=lat, lng=lng,
                        service_radius_m=service_radius_m, opening_hours=opening_hours)
    session.add(point)
    session.flush()
    return point


def get_point(session: Session, point_id: int) -> tuple[PickupPoint, Leader, User]:
    row = session.exec(
        select(PickupPoint, Leader, User)
        .join(Leader, Leader.id == PickupPoint.leader_id)
        .join(User, User.id == Leader.user_id)
        .where(PickupPoint.id == point_id)
    ).first()
    if row is None:
        raise PickupPointNotFound(f"Pickup point {point_id} does not exist.")
    return row


def require_active_point(session: Session, point_id: int) -> PickupPoint:
    point = session.get(PickupPoint, point_id)
    if point is None or not point.active:
        raise PickupPointNotFound(f"Pickup point {point_id} does not exist or is closed.")
    return point


def update_point(session: Session, point_id: int, **changes) -> PickupPoint:
    point = session.get(PickupPoint, point_id)
    if point is None:
        raise PickupPointNotFound(f"Pickup point {point_id} does not exist.")
    for k, v in changes.items():
        setattr(point, k, v)
    session.add(point)
    session.flush()
    return point


_NEARBY_COLUMNS = (PickupPoint.id, PickupPoint.name, PickupPoint.address, PickupPoint.lat, PickupPoint.lng,
                   PickupPoint.service_radius_m, PickupPoint.leader_id, User.nickname)


# The first ring of the nearby search; it doubles until it holds `limit` points or reaches radius_m.
NEARBY_FIRST_RING_M = 500


def nearby(session: Session, *, lat: float, lng: float, radius_m: int, limit: int) -> list[NearbyPoint]:
    """Active points within radius_m, nearest first.

    The (active, lat, lng) index narrows to a bounding box; the database ranks the candidates
    by a flat-earth distance (exact enough at a few km) so only `limit` rows come back, and
    geopy gives those their true great-circle distance.

    In a dense city a 3 km box holds thousands of points while the nearest 20 sit within a few
    hundred metres, so the box starts small and doubles: once a ring holds `limit` points, no
    point outside it can rank among them, and the answer is the one the full radius would give.
    """
    k = math.cos(math.radians(lat))
    dy = PickupPoint.lat - lat
    dx = (PickupPoint.lng - lng) * k
    d2 = dy * dy + dx * dx
    ring_m = min(NEARBY_FIRST_RING_M, radius_m)
    while True:
        last = ring_m >= radius_m
        # The last ring is a hair wider than radius_m; the exact check follows.
        r_deg = (radius_m * 1.01 if last else ring_m) / METERS_PER_DEG_LAT
        lat0, lat1, lng0, lng1 = bounding_box(lat, lng, r_deg * METERS_PER_DEG_LAT)
        stmt = (
            sa_select(*_NEARBY_COLUMNS)
            .join(Leader, Leader.id == PickupPoint.leader_id)
            .join(User, User.id == Leader.user_id)
            .where(and_(PickupPoint.active.is_(True), Leader.active.is_(True),
                        PickupPoint.lat.between(lat0, lat1), PickupPoint.lng.between(lng0, lng1),
                        d2 <= r_deg * r_deg))
            .order_by(d2, PickupPoint.id)
            .limit(limit)
        )
        rows = session.execute(stmt).all()
        if last or len(rows) >= limit:
            break
        ring_m = min(ring_m * 2, radius_m)
    out = []
    for row in rows:
        d = distance_m((lat, lng), (row.lat, row.lng))
        if d <= radius_m:
            out.append(NearbyPoint(id=row.id, name=row.name, address=row.address, lat=row.lat, lng=row.lng,
                                   distance_m=round(d), service_radius_m=row.service_radius_m,
                                   leader_id=row.leader_id, leader_nickname=row.nickname))
    return out
