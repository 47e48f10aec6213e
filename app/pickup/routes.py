from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.db import reading, transaction
from app.http import respond
from app.pickup import service
from app.pickup.geo import to_gcj02
from app.pickup.schemas import (LeaderBrief, LeaderPickupPointUpdate, NearbyOut, NearbyQuery, PickupPointPath,
                                PickupPointPublic, PickupPointUpdate)

bp = APIBlueprint("pickup", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="pickup points", description="Find and manage pickup points")])


def point_public(point, leader, user) -> PickupPointPublic:
    return PickupPointPublic(id=point.id, name=point.name, address=point.address, lat=point.lat, lng=point.lng,
                             service_radius_m=point.service_radius_m, opening_hours=point.opening_hours,
                             active=point.active, leader=LeaderBrief(id=leader.id, nickname=user.nickname))


@bp.get("/pickup-points/nearby", operation_id="list_nearby_pickup_points", responses={200: NearbyOut},
        summary="Active pickup points near me, nearest first")
def nearby(query: NearbyQuery):
    lat, lng = to_gcj02(query.lat, query.lng, query.coord_type)
    with reading() as s:
        found = service.nearby(s, lat=lat, lng=lng, radius_m=query.radius_m, limit=query.limit)
    # Plain dicts in the NearbyOut shape (the hottest read path; pydantic adds nothing here).
    return respond({"items": [
        {"id": p.id, "name": p.name, "address": p.address, "lat": p.lat, "lng": p.lng, "distance_m": p.distance_m,
         "service_radius_m": p.service_radius_m, "leader": {"id": p.leader_id, "nickname": p.leader_nickname}}
        for p in found]})


@bp.get("/pickup-points/<int:point_id>", operation_id="get_pickup_point", responses={200: PickupPointPublic},
        summary="One pickup point")
def get_point(path: PickupPointPath):
    with reading() as s:
        return respond(point_public(*service.get_point(s, path.point_id)))


@bp.patch("/leader/pickup-point", operation_id="update_my_pickup_point", responses={200: PickupPointPublic},
          security=BEARER,
          summary="A leader updates their own pickup point")
@authenticated("leader")
def update_my_point(body: LeaderPickupPointUpdate):
    with transaction() as s:
        service.update_point(s, current().leader_point_id, **body.model_dump(exclude_unset=True, exclude_none=True))
        return respond(point_public(*service.get_point(s, current().leader_point_id)))


@bp.patch("/admin/pickup-points/<int:point_id>", operation_id="update_pickup_point",
          responses={200: PickupPointPublic}, security=BEARER,
          summary="An operator updates any pickup point (e.g. closes it)")
@authenticated("admin")
def admin_update_point(path: PickupPointPath, body: PickupPointUpdate):
    with transaction() as s:
        service.update_point(s, path.point_id, **body.model_dump(exclude_unset=True, exclude_none=True))
        return respond(point_public(*service.get_point(s, path.point_id)))
