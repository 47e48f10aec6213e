from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.db import reading, retry_conflicts, transaction
from app.http import problem_response, respond, settings
from app.idempotency import idempotent
from app.order import placing as order_placing
from app.order import queries as order_queries
from app.order import transitions as order_transitions
from app.order import views
from app.order.models import OrderStatus
from app.order.schemas import (AdminOrderQuery, AdminRefundBody, OrderCreate, OrderList, OrderPath, OrderPublic,
                               OrderQuery, PayBody, PaymentInfo, PayOut)
from app.pagination import decode_cursor, page_of
from app.payment import flows as payment_flows
from app.payment import unit_refunds as payment_units

bp = APIBlueprint("orders", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="orders", description="Order today, pick up tomorrow")])


@bp.post("/orders", operation_id="place_order", security=BEARER, responses={
    201: OrderPublic,
    409: problem_response("out_of_stock; qty_limit_exceeded (more than LINLI_MAX_QTY_PER_SKU units of one SKU, "
                          "repeated lines merged); too_many_unpaid_orders (LINLI_MAX_UNPAID_ORDERS held unpaid); "
                          "pickup_point_unavailable (its leader is suspended); sku_unavailable; "
                          "insufficient_points (points_to_use above my balance); coupon_used (on another "
                          "order), coupon_expired, coupon_not_yet_valid"),
    404: problem_response("coupon_not_found: coupon_id names none of my coupons"),
    422: problem_response("validation_error, or no_pickup_point: no pickup_point_id given and none bound "
                          "(PUT /me/pickup-point), or points_over_limit: points_to_use above "
                          "LINLI_POINTS_MAX_RATIO of the order's total after the coupon, or "
                          "coupon_min_spend_not_met, coupon_not_applicable (no item in the coupon's scope)")},
         summary="Place an order (takes stock at once; pay before pay_before)")
@authenticated()
@retry_conflicts
@idempotent
def create_order(body: OrderCreate):
    with transaction() as s:
        order = order_placing.place_order(
            s, settings=settings(), buyer_id=current().user_id,
            lines=[order_placing.Line(sku_id=i.sku_id, qty=i.qty) for i in body.items],
            pickup_point_id=body.pickup_point_id, note=body.note, points_to_use=body.points_to_use,
            coupon_id=body.coupon_id)
        return respond(views.order_public_one(s, order), 201)


@bp.get("/orders", operation_id="list_orders", responses={200: OrderList}, security=BEARER,
        summary="My orders, newest first")
@authenticated()
def list_orders(query: OrderQuery):
    with reading() as s:
        rows = order_queries.list_buyer_orders(s, buyer_id=current().user_id, status=query.status,
                                         before_id=decode_cursor(query.cursor), limit=query.limit)
        rows, cursor = page_of(rows, query.limit)
        return respond(OrderList(items=views.orders_public(s, rows), next_cursor=cursor))


@bp.get("/orders/<int:order_id>", operation_id="get_order", responses={200: OrderPublic}, security=BEARER,
        summary="One of my orders, with its pickup code once paid")
@authenticated()
def get_order(path: OrderPath):
    with reading() as s:
        order = order_queries.get_buyer_order(s, order_id=path.order_id, buyer_id=current().user_id)
        return respond(views.order_public_one(s, order))


@bp.post("/orders/<int:order_id>/pay", operation_id="pay_order", security=BEARER,
         responses={200: PayOut,
                    409: problem_response("insufficient_balance (method wallet: the wallet holds less than the total); "
                                          "invalid_state; payment_expired"),
                    502: problem_response("The payment provider refused (payment_provider_rejected)"),
                    503: problem_response("The payment provider is unreachable (payment_provider_unavailable)")},
         summary="Start paying: client parameters for wx.requestPayment (sandbox: paid at once); "
                 "{\"method\": \"wallet\"} pays from my wallet at once")
@authenticated()
def pay_order(path: OrderPath, body: PayBody):
    order, params, provider = payment_flows.start_payment(order_id=path.order_id, buyer_id=current().user_id,
                                                          method=body.method or "wechatpay")
    with reading() as s:
        return respond(PayOut(order=views.order_public_one(s, order),
                              payment=PaymentInfo(provider=provider, params=params)))


@bp.post("/orders/<int:order_id>/cancel", operation_id="cancel_order", responses={200: OrderPublic}, security=BEARER,
         summary="Cancel: unpaid → cancelled; paid (not yet shipped) → refunded")
@authenticated()
def cancel_order(path: OrderPath):
    with transaction() as s:
        order = order_transitions.cancel_by_buyer(s, order_id=path.order_id, buyer_id=current().user_id)
        return respond(views.order_public_one(s, order))


@bp.get("/admin/orders", operation_id="admin_list_orders", responses={200: OrderList}, security=BEARER,
        summary="Every order, newest first, searched by id, buyer, phone tail, point, delivery date, status, source")
@authenticated("admin")
def admin_list_orders(query: AdminOrderQuery):
    with reading() as s:
        rows = order_queries.admin_orders(
            s, order_id=query.order_id, buyer_id=query.buyer_id, phone_tail=query.phone_tail,
            pickup_point_id=query.pickup_point_id, delivery_date=query.delivery_date, status=query.status,
            source=query.source, before_id=decode_cursor(query.cursor), limit=query.limit)
        rows, cursor = page_of(rows, query.limit)
        return respond(OrderList(items=views.orders_public(s, rows), next_cursor=cursor))


@bp.post("/admin/orders/<int:order_id>/refund", operation_id="refund_order", responses={
             200: OrderPublic, 409: problem_response("invalid_state, units_already_refunded, refund_exceeds_payment")},
         security=BEARER,
         summary="Refund by an operator, at any stage after payment: the whole order, or only `lines` "
                 "(units per SKU, a partial refund); commission reversed or rebased")
@authenticated("admin")
def admin_refund(path: OrderPath, body: AdminRefundBody):
    with transaction() as s:
        if body.lines:
            lines: dict[int, int] = {}
            for line in body.lines:
                lines[line.sku_id] = lines.get(line.sku_id, 0) + line.qty
            payment_units.refund_order_units(s, order_id=path.order_id, lines=lines, reason=body.reason)
        else:
            # The payment domain's "refunded" hook creates the refund of the applied payment.
            order_transitions.mark_refunded(s, order_id=path.order_id, reason=body.reason, allowed_from=(
                OrderStatus.paid, OrderStatus.shipped, OrderStatus.arrived, OrderStatus.picked_up))
        return respond(views.order_public_one(s, order_queries.get_order(s, path.order_id)))
