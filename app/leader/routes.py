from __future__ import annotations

from decimal import Decimal

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.commission import service as commission_service
from app.db import reading, transaction
from app.http import respond, settings
from app.leader import service
from app.leader.schemas import (ApplicationCreate, ApplicationCreated, ApplicationList, ApplicationPath,
                                ApplicationPublic, ApplicationQuery, Approved, LeaderPath, LeaderPublic, LeaderUpdate,
                                RejectBody, Rejected)
from app.notify import service as notify_service
from app.pagination import decode_cursor, page_of
from app.pickup.geo import to_gcj02

bp = APIBlueprint("leaders", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="leaders", description="Becoming a leader, and the leader's daily work")])


def application_public(a) -> ApplicationPublic:
    return ApplicationPublic(
        id=a.id, user_id=a.user_id, status=a.status, real_name=a.real_name, phone=a.phone,
        pickup_point={"name": a.point_name, "address": a.point_address, "lat": a.lat, "lng": a.lng,
                      "service_radius_m": a.service_radius_m, "opening_hours": a.opening_hours},
        reason=a.reason, leader_id=a.leader_id, created_at=a.created_at, decided_at=a.decided_at)


@bp.post("/leader-applications", operation_id="create_leader_application", responses={201: ApplicationCreated},
         security=BEARER,
         summary="Apply to become a leader with a pickup point")
@authenticated()
def apply(body: ApplicationCreate):
    pp = body.pickup_point
    lat, lng = to_gcj02(pp.lat, pp.lng, pp.coord_type)
    with transaction() as s:
        a = service.apply(s, user_id=current().user_id, real_name=body.real_name, phone=body.phone,
                          point_name=pp.name, point_address=pp.address, lat=lat, lng=lng,
                          service_radius_m=pp.service_radius_m, opening_hours=pp.opening_hours)
        return respond(ApplicationCreated(id=a.id, status=a.status), 201)


@bp.get("/admin/leader-applications", operation_id="list_leader_applications", responses={200: ApplicationList},
        security=BEARER, summary="Leader applications, newest first")
@authenticated("admin")
def list_applications(query: ApplicationQuery):
    with reading() as s:
        rows = service.list_applications(s, status=query.status, before_id=decode_cursor(query.cursor),
                                         limit=query.limit)
    rows, cursor = page_of(rows, query.limit)
    return respond(ApplicationList(items=[application_public(a) for a in rows], next_cursor=cursor))


@bp.post("/admin/leader-applications/<int:application_id>/approve", operation_id="approve_leader_application",
         responses={200: Approved}, security=BEARER,
         summary="Approve: the applicant becomes a leader with an active pickup point")
@authenticated("admin")
def approve(path: ApplicationPath):
    with transaction() as s:
        leader, point_id = service.approve(s, application_id=path.application_id)
        notify_service.notify(s, user_id=leader.user_id, event="leader.approved",
                              data={"leader_id": leader.id, "pickup_point_id": point_id})
        return respond(Approved(leader_id=leader.id, pickup_point_id=point_id))


@bp.post("/admin/leader-applications/<int:application_id>/reject", operation_id="reject_leader_application",
         responses={200: Rejected}, security=BEARER, summary="Reject an application, with a reason")
@authenticated("admin")
def reject(path: ApplicationPath, body: RejectBody):
    with transaction() as s:
        a = service.reject(s, application_id=path.application_id, reason=body.reason)
        notify_service.notify(s, user_id=a.user_id, event="leader.rejected", data={"reason": body.reason})
        return respond(Rejected(id=a.id, status=a.status, reason=a.reason))


def leader_public(leader) -> LeaderPublic:
    rate = commission_service.rate_bp_for(leader, settings())
    return LeaderPublic(id=leader.id, user_id=leader.user_id, real_name=leader.real_name, phone=leader.phone,
                        commission_rate=rate / 10_000, active=leader.active)


@bp.patch("/admin/leaders/<int:leader_id>", operation_id="update_leader", responses={200: LeaderPublic},
          security=BEARER,
          summary="Set a leader's commission rate or suspend them")
@authenticated("admin")
def update_leader(path: LeaderPath, body: LeaderUpdate):
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "commission_rate" in changes:
        changes["commission_rate_bp"] = int((Decimal(str(changes.pop("commission_rate"))) * 10_000).to_integral_value())
    with transaction() as s:
        return respond(leader_public(service.update_leader(s, leader_id=path.leader_id, **changes)))
