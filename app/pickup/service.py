"""Pickup points: creation on approval, lookups and the nearby search."""
from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Float, Integer, and_, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from app.auth.models import User
from app.db import apply_changes, get_or_raise
from app.leader.models import Leader
from app.pickup.errors import PickupPointNotFound
from app.pickup.geo import METERS_PER_DEG_LAT, bounding_box, coord, distance_m
from app.pickup.models import PickupPoint


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
    point = PickupPoint(leader_id=leader_id, name=name, address=address, lat=coord(lat), lng=coord(lng),
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


def require_point(session: Session, point_id: int) -> PickupPoint:
    return get_or_raise(session, PickupPoint, point_id, PickupPointNotFound, "Pickup point")


def point_id_of_leader(session: Session, *, leader_id: int) -> int | None:
    return session.exec(select(PickupPoint.id).where(PickupPoint.leader_id == leader_id)).first()


def update_point(session: Session, point_id: int, **changes) -> PickupPoint:
    return apply_changes(session, get_or_raise(session, PickupPoint, point_id, PickupPointNotFound, "Pickup point"),
                         changes)


def _nearby_statement():
    # Built once with bind parameters: building and cache-keying the statement per call cost
    # more than the database's own work.
    lat, lng, k = (bindparam(n, type_=Float) for n in ("lat", "lng", "k"))
    d2 = (PickupPoint.lat - lat) * (PickupPoint.lat - lat) + (PickupPoint.lng - lng) * k * (PickupPoint.lng - lng) * k
    return (
        sa_select(PickupPoint.id, PickupPoint.name, PickupPoint.address, PickupPoint.lat, PickupPoint.lng,
                  PickupPoint.service_radius_m, PickupPoint.leader_id, User.nickname)
        .join(Leader, Leader.id == PickupPoint.leader_id)
        .join(User, User.id == Leader.user_id)
        .where(and_(PickupPoint.active.is_(True), Leader.active.is_(True),
                    PickupPoint.lat.between(bindparam("lat0", type_=Float), bindparam("lat1", type_=Float)),
                    PickupPoint.lng.between(bindparam("lng0", type_=Float), bindparam("lng1", type_=Float)),
                    d2 <= bindparam("r2", type_=Float)))
        .order_by(d2, PickupPoint.id)
        .limit(bindparam("limit", type_=Integer))
    )


_NEARBY = _nearby_statement()

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
    lat, lng = coord(lat), coord(lng)  # as the points are stored (geo.COORD_DECIMALS)
    params = {"lat": lat, "lng": lng, "k": math.cos(math.radians(lat)), "limit": limit}
    ring_m = min(NEARBY_FIRST_RING_M, radius_m)
    while True:
        last = ring_m >= radius_m
        r_m = radius_m * 1.01 if last else ring_m  # the last ring a hair wider; the exact check follows
        params["lat0"], params["lat1"], params["lng0"], params["lng1"] = bounding_box(lat, lng, r_m)
        params["r2"] = (r_m / METERS_PER_DEG_LAT) ** 2
        # Core execution on the session's connection: the ORM layer adds nothing to plain rows.
        rows = session.connection().execute(_NEARBY, params).all()
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


def open_point_leaders(session: Session, *, point_ids: set[int]) -> dict[int, int]:
    """The open points among those given, as point id → leader id."""
    return dict(session.exec(select(PickupPoint.id, PickupPoint.leader_id)
                             .where(PickupPoint.id.in_(point_ids), PickupPoint.active.is_(True))).all())
