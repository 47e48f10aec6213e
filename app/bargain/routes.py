from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.bargain import service
from app.bargain.schemas import (BargainAdmin, BargainAdminList, BargainCreate, BargainList, BargainPath, BargainPublic,
                                 HelperPublic, HelpOut, RecordOrderBody, RecordPath, RecordPublic)
from app.db import reading, retry_conflicts, transaction, utcnow
from app.http import problem_response, respond, settings
from app.idempotency import idempotent
from app.order import views as order_views
from app.order.schemas import OrderPublic
from app.pagination import PageQuery, decode_cursor, page_of

bp = APIBlueprint("bargain", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="bargain", description="砍价: friends cut the price down to the floor")])


def record_public(s, record) -> RecordPublic:
    helpers = [HelperPublic(nickname=name, cut=h.cut, created_at=h.created_at)
               for h, name in service.helps_of(s, record.id)]
    return RecordPublic(id=record.id, campaign_id=record.campaign_id, start_price=record.start_price,
                        current_price=record.current_price, floor_price=record.floor_price,
                        helpers_needed=record.helpers_needed, helpers=helpers, expires_at=record.expires_at,
                        status=record.status, order_id=record.order_id)


@bp.post("/admin/bargains", operation_id="create_bargain", security=BEARER,
         responses={201: BargainPublic, 409: problem_response("out_of_stock (its own stock); sku_unavailable")},
         summary="Create a bargain campaign")
@authenticated("admin")
def create_bargain(body: BargainCreate):
    with transaction() as s:
        campaign = service.create_campaign(s, **body.model_dump())
        return respond(BargainPublic.model_validate(campaign, from_attributes=True), 201)


@bp.get("/bargains", operation_id="list_bargains", responses={200: BargainList},
        summary="Bargain campaigns not ended yet (running or upcoming), newest first")
def list_bargains(query: PageQuery):
    with reading() as s:
        rows = service.list_campaigns(s, now=utcnow(), before_id=decode_cursor(query.cursor), limit=query.limit)
        rows, cursor = page_of(rows, query.limit)
        return respond(BargainList(items=[BargainPublic.model_validate(c, from_attributes=True) for c in rows],
                                   next_cursor=cursor))


@bp.get("/admin/bargains", operation_id="admin_list_bargains", security=BEARER, responses={200: BargainAdminList},
        summary="Every bargain campaign, newest first, with its state and sales")
@authenticated("admin")
def admin_list_bargains(query: PageQuery):
    with reading() as s:
        rows = service.list_campaigns(s, now=None, before_id=decode_cursor(query.cursor), limit=query.limit)
        rows, cursor = page_of(rows, query.limit)
        sales, now = service.campaign_sales(s, [c.id for c in rows]), utcnow()
        items = [BargainAdmin(**BargainPublic.model_validate(c, from_attributes=True).model_dump(),
                              state=service.campaign_state(c, now), records_started=sales.get(c.id, (0, 0))[0],
                              orders=sales.get(c.id, (0, 0))[1]) for c in rows]
        return respond(BargainAdminList(items=items, next_cursor=cursor))


@bp.post("/bargains/<int:bargain_id>/start", operation_id="start_bargain", security=BEARER,
         responses={201: RecordPublic, 409: problem_response("already_started, not_started, ended")},
         summary="Start my bargain record in a campaign")
@authenticated()
def start_bargain(path: BargainPath):
    with transaction() as s:
        record = service.start(s, campaign_id=path.bargain_id, user_id=current().user_id)
        return respond(record_public(s, record), 201)


@bp.post("/bargain-records/<int:record_id>/help", operation_id="help_bargain", security=BEARER,
         responses={200: HelpOut, 409: problem_response(
             "cannot_help_self, already_helped, expired, completed, help_limit_reached, busy_try_again")},
         summary="Help a friend's bargain: one random cut")
@authenticated()
def help_bargain(path: RecordPath):
    with transaction() as s:
        cut, record = service.help_cut(s, settings=settings(), record_id=path.record_id,
                                       helper_id=current().user_id)
        return respond(HelpOut(cut=cut, current_price=record.current_price, status=record.status))


@bp.get("/bargain-records/<int:record_id>", operation_id="get_bargain_record", security=BEARER,
        responses={200: RecordPublic},
        summary="A bargain record with its helpers and their cuts")
@authenticated()
def get_bargain_record(path: RecordPath):
    with reading() as s:
        return respond(record_public(s, service.get_record(s, path.record_id)))


@bp.post("/bargain-records/<int:record_id>/order", operation_id="order_bargain", security=BEARER,
         responses={201: OrderPublic, 409: problem_response(
             "already_ordered, expired, floor_not_reached, sold_out, out_of_stock, too_many_unpaid_orders")},
         summary="Order my bargain at its current price (once per record)")
@authenticated()
@retry_conflicts
@idempotent
def order_bargain(path: RecordPath, body: RecordOrderBody):
    with transaction() as s:
        order = service.place_order(s, settings=settings(), record_id=path.record_id, user_id=current().user_id,
                                    pickup_point_id=body.pickup_point_id)
        return respond(order_views.order_public_one(s, order), 201)
