from __future__ import annotations

import logging

from flask import request
from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, token_authenticated, token_user_id
from app.db import reading, transaction, utcnow
from app.extensions import limiter
from app.flashsale import admin_reads, lane, service
from app.flashsale.purchase import take
from app.flashsale.schemas import (FlashSaleAdmin, FlashSaleAdminList, FlashSaleCreate, FlashSaleList, FlashSalePath,
                                   FlashSalePublic, FlashSaleQuery, FlashSaleStats, PurchaseBody, PurchaseOut,
                                   ReservationOut, ReservationPath)
from app.http import problem_response, respond
from app.idempotency import checked_key as idempotency_key
from app.pagination import PageQuery, decode_cursor, page_of

log = logging.getLogger(__name__)

bp = APIBlueprint("flashsale", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="flash sales", description="限时秒杀: limited stock in a time window")])



def _public(sale, left: int) -> FlashSalePublic:
    return FlashSalePublic(id=sale.id, sku_id=sale.sku_id, price=sale.price, stock=sale.stock, stock_left=left,
                           per_user_limit=sale.per_user_limit, starts_at=sale.starts_at, ends_at=sale.ends_at)


@bp.post("/admin/flash-sales", operation_id="create_flash_sale", security=BEARER, responses={
    201: FlashSalePublic, 409: problem_response("out_of_stock: the SKU has fewer units than the sale's stock; "
                                                "sku_unavailable")},
         summary="Create a flash sale (its stock is taken from the SKU's now)")
@authenticated("admin")
def create_sale(body: FlashSaleCreate):
    with transaction() as s:
        sale = service.create_sale(s, sku_id=body.sku_id, price=body.price, stock=body.stock,
                                   starts_at=body.starts_at, ends_at=body.ends_at, per_user_limit=body.per_user_limit)
        return respond(_public(sale, sale.stock), 201)


@bp.get("/admin/flash-sales/<int:sale_id>", operation_id="get_flash_sale_stats", security=BEARER,
        responses={200: FlashSaleStats}, summary="One flash sale with its figures for operators")
@authenticated("admin")
def sale_stats(path: FlashSalePath):
    with reading() as s:
        sale = service.get_sale(s, path.sale_id)
        left = service.stock_left([sale])[sale.id]
        st = service.stats(s, sale, left)
        return respond(FlashSaleStats(**_public(sale, left).model_dump(), reserved=st.reserved,
                                      confirmed=st.confirmed, paid=st.paid, expired=st.expired, returned=st.returned,
                                      returned_to_sku=st.returned_to_sku, settled_at=sale.settled_at))


@bp.get("/admin/flash-sales", operation_id="admin_list_flash_sales", security=BEARER,
        responses={200: FlashSaleAdminList}, summary="Every flash sale, newest first, with its state and figures")
@authenticated("admin")
def admin_list_sales(query: PageQuery):
    with reading() as s:
        sales = admin_reads.list_all(s, before_id=decode_cursor(query.cursor), limit=query.limit)
        sales, cursor = page_of(sales, query.limit)
        left, now, items = service.stock_left(sales), utcnow(), []
        for sale in sales:
            st = service.stats(s, sale, left[sale.id])
            items.append(FlashSaleAdmin(**_public(sale, left[sale.id]).model_dump(), reserved=st.reserved,
                                        confirmed=st.confirmed, paid=st.paid, expired=st.expired,
                                        returned=st.returned, returned_to_sku=st.returned_to_sku,
                                        settled_at=sale.settled_at, state=admin_reads.state(sale, now)))
        return respond(FlashSaleAdminList(items=items, next_cursor=cursor))


@bp.get("/flash-sales", operation_id="list_flash_sales", responses={200: FlashSaleList},
        summary="Flash sales not yet over (upcoming, or active: inside the window, sold out or not)")
def list_sales(query: FlashSaleQuery):
    with reading() as s:
        sales = service.list_sales(s, status=query.status)
    left = service.stock_left(sales)
    return respond(FlashSaleList(items=[_public(x, left[x.id]) for x in sales]))


# Per-user and per-address limits of the purchase endpoint (LINLI_FLASH_RATELIMIT_USER/_IP, in
# flask-limiter's notation and key format, fixed windows like its default strategy), counted by a
# script: inside the purchase script itself when the sale's Redis is the rate limits' own (one
# round trip a purchase), else by lua.RATE_LIMITS on the rate-limit Redis first. flask-limiter's
# decorators made four round trips a purchase (a hit per limit, then two reads for the
# X-RateLimit-* headers). The route is exempt from the default limit, as decorated routes were.


@bp.post("/flash-sales/<int:sale_id>/purchase", operation_id="purchase_flash_sale", security=BEARER, responses={
    202: PurchaseOut,
    403: problem_response("user_blocked"),
    409: problem_response("sold_out, limit_exceeded (past per_user_limit), not_started, ended"),
    422: problem_response("validation_error, or no_pickup_point: no pickup_point_id given and none bound "
                          "(PUT /me/pickup-point)"),
    503: problem_response("service_unavailable: the sale's Redis cannot be reached (Retry-After)")},
         summary="Reserve flash-sale units (the order follows; poll the reservation)")
@limiter.exempt
@token_authenticated
def purchase(path: FlashSalePath, body: PurchaseBody):
    # Most purchases and their refusals are answered by the lane in front of Flask
    # (app.flashsale.lane); it hands over the rest untouched, or with an unexpected error its
    # own call of take() raised, to be raised again here.
    user_id = token_user_id()
    key = idempotency_key(request.headers.get("Idempotency-Key"))
    raised = request.environ.pop(lane.RAISED, None)
    if raised is not None:
        raise raised
    return respond(take(path.sale_id, user_id, body, key, request.remote_addr), 202)


@bp.get("/flash-sales/reservations/<reservation_id>", operation_id="get_flash_reservation", security=BEARER,
        responses={200: ReservationOut}, summary="A reservation of mine: pending, confirmed (its order) or failed")
@token_authenticated
def get_reservation(path: ReservationPath):
    view = service.reservation(res_id=path.reservation_id, user_id=token_user_id())
    return respond(ReservationOut(status=view.status, order_id=view.order_id, reason=view.reason))
