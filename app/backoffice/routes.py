from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated
from app.backoffice import figures
from app.backoffice.schemas import (DayFiguresOut, LeaderAdmin, LeaderAdminList, LeaderAdminQuery, LeaderContact,
                                    PointAdmin, PointAdminList, PointAdminQuery, PointBrief)
from app.commission import service as commission_service
from app.db import reading
from app.http import respond, settings
from app.order.rules import local_today
from app.pagination import decode_cursor, page_of
from app.pickup.geo import distance_m, to_gcj02

bp = APIBlueprint("backoffice", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="back office", description="The operator's lists across domains")])


def figures_out(f: figures.DayFigures) -> DayFiguresOut:
    return DayFiguresOut(orders=f.orders, paid_amount=f.paid_amount, picked_up=f.picked_up,
                         pending_pickups=f.pending_pickups, pickup_rate=f.pickup_rate, fans=f.fans,
                         commission=f.commission)


@bp.get("/admin/leaders", operation_id="admin_list_leaders", responses={200: LeaderAdminList}, security=BEARER,
        summary="Every leader, newest first, searched by name, phone tail, status; with the day's figures")
@authenticated("admin")
def admin_list_leaders(query: LeaderAdminQuery):
    conf = settings()
    day = query.date or local_today(conf)
    with reading() as s:
        rows = figures.list_leaders(s, q=query.q, phone_tail=query.phone_tail, status=query.status,
                                    before_id=decode_cursor(query.cursor), limit=query.limit)
        rows, cursor = page_of(rows, query.limit, key=lambda r: r[0].id)
        day_figures = figures.day_figures(s, point_ids=[p.id for _, p in rows if p is not None], day=day)
    empty = figures.DayFigures()
    return respond(LeaderAdminList(date=day, next_cursor=cursor, items=[LeaderAdmin(
        id=leader.id, user_id=leader.user_id, real_name=leader.real_name, phone=leader.phone,
        commission_rate=commission_service.rate_bp_for(leader, conf) / 10_000, active=leader.active,
        status="active" if leader.active else "suspended", created_at=leader.created_at,
        pickup_point=PointBrief(id=point.id, name=point.name, active=point.active) if point else None,
        figures=figures_out(day_figures.get(point.id, empty) if point else empty)) for leader, point in rows]))


@bp.get("/admin/pickup-points", operation_id="admin_list_pickup_points", responses={200: PointAdminList},
        security=BEARER,
        summary="Every pickup point, newest first, searched by name or address, leader's phone tail, open or "
                "closed, near a place; with the day's figures")
@authenticated("admin")
def admin_list_pickup_points(query: PointAdminQuery):
    day = query.date or local_today(settings())
    near = None
    if query.lat is not None and query.lng is not None:
        lat, lng = to_gcj02(query.lat, query.lng, query.coord_type)
        near = (lat, lng, query.radius_m)
    with reading() as s:
        rows = figures.list_points(s, q=query.q, phone_tail=query.phone_tail, status=query.status, near=near,
                                   before_id=decode_cursor(query.cursor), limit=query.limit)
        rows, cursor = page_of(rows, query.limit, key=lambda r: r[0].id)
        day_figures = figures.day_figures(s, point_ids=[p.id for p, _ in rows], day=day)
    return respond(PointAdminList(date=day, next_cursor=cursor, items=[PointAdmin(
        id=p.id, name=p.name, address=p.address, lat=p.lat, lng=p.lng, service_radius_m=p.service_radius_m,
        opening_hours=p.opening_hours, active=p.active, status="open" if p.active else "closed",
        created_at=p.created_at, distance_m=round(distance_m(near[:2], (p.lat, p.lng))) if near else None,
        leader=LeaderContact(id=leader.id, real_name=leader.real_name, phone=leader.phone, active=leader.active),
        figures=figures_out(day_figures[p.id])) for p, leader in rows]))
