from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.aftersales import service
from app.aftersales.schemas import (AfterSaleCreate, AfterSaleItemOut, AfterSaleList, AfterSaleLogOut, AfterSalePath,
                                    AfterSalePublic, AfterSaleQuery, DecisionBody, OrderPath)
from app.auth.security import BEARER, authenticated, current
from app.db import reading, transaction
from app.http import problem_response, respond, settings
from app.pagination import decode_cursor, page_of

bp = APIBlueprint("aftersales", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="after-sales", description="After-sales (售后): decided by the leader first")])

DECIDED = {200: AfterSalePublic, 404: problem_response("after_sale_not_found"),
           409: problem_response("invalid_state (already decided, or not in a status this decision applies to); "
                                 "refund_exceeds_payment")}


def _public(s, rows) -> list[AfterSalePublic]:
    items, log = service.items_and_log(s, [a.id for a in rows])
    return [AfterSalePublic(
        id=a.id, order_id=a.order_id, status=a.status, reason=a.reason, description=a.description,
        images=list(a.images or []), amount=a.amount, refunded_amount=a.refunded_amount,
        pickup_point_id=a.pickup_point_id, decided_by=a.decided_by, created_at=a.created_at, updated_at=a.updated_at,
        items=[AfterSaleItemOut(sku_id=i.sku_id, name=i.name, qty=i.qty, unit_price=i.unit_price,
                                refunded_qty=i.refunded_qty) for i in items[a.id]],
        log=[AfterSaleLogOut(at=e.at, actor=e.actor, action=e.action, note=e.note) for e in log[a.id]])
        for a in rows]


def _one(s, a):
    s.flush()
    return respond(_public(s, [a])[0])


def _list(query: AfterSaleQuery, **who):
    with reading() as s:
        rows = service.list_after_sales(s, status=query.status, before_id=decode_cursor(query.cursor),
                                        limit=query.limit, **who)
        rows, cursor = page_of(rows, query.limit)
        return respond(AfterSaleList(items=_public(s, rows), next_cursor=cursor))


@bp.post("/orders/<int:order_id>/after-sales", operation_id="request_after_sale", security=BEARER,
         responses={201: AfterSalePublic, 404: problem_response("order_not_found"),
                    409: problem_response("after_sale_window_closed (LINLI_AFTER_SALE_WINDOW_H after arrival), "
                                          "after_sale_open (one open request per order), invalid_state (not arrived "
                                          "or picked up)"),
                    422: problem_response("validation_error, unknown_after_sale_reason, after_sale_items_invalid "
                                          "(a SKU not in the order, or more units than are left)")},
         summary="Ask for money back for some units of an arrived or picked-up order")
@authenticated()
def request_after_sale(path: OrderPath, body: AfterSaleCreate):
    with transaction() as s:
        a = service.request_after_sale(s, settings=settings(), buyer_id=current().user_id, order_id=path.order_id,
                                       items=[(i.sku_id, i.qty) for i in body.items], reason=body.reason,
                                       description=body.description, images=body.images)
        s.flush()
        return respond(_public(s, [a])[0], 201)


@bp.get("/me/after-sales", operation_id="my_after_sales", responses={200: AfterSaleList}, security=BEARER,
        summary="My after-sales requests, newest first")
@authenticated()
def my_after_sales(query: AfterSaleQuery):
    return _list(query, buyer_id=current().user_id)


@bp.get("/leader/after-sales", operation_id="leader_after_sales", responses={200: AfterSaleList}, security=BEARER,
        summary="After-sales requests at my pickup point (?status=requested: my queue), newest first")
@authenticated("leader")
def leader_after_sales(query: AfterSaleQuery):
    return _list(query, pickup_point_id=current().leader_point_id)


@bp.get("/admin/after-sales", operation_id="admin_after_sales", responses={200: AfterSaleList}, security=BEARER,
        summary="All after-sales requests (?status=escalated: the operator's queue), newest first")
@authenticated("admin")
def admin_after_sales(query: AfterSaleQuery):
    return _list(query)


@bp.get("/after-sales/<int:after_sale_id>", operation_id="get_after_sale", security=BEARER,
        responses={200: AfterSalePublic, 404: problem_response("after_sale_not_found (none, or not yours to see)")},
        summary="One request with its log, to its buyer, its point's leader and operators")
@authenticated()
def get_after_sale(path: AfterSalePath):
    me = current()
    with reading() as s:
        a = service.get_visible(s, path.after_sale_id, user_id=me.user_id, leader_point_id=me.leader_point_id,
                                is_admin=me.has("admin"))
        return respond(_public(s, [a])[0])


@bp.post("/after-sales/<int:after_sale_id>/escalate", operation_id="escalate_after_sale", security=BEARER,
         responses={200: AfterSalePublic, 404: problem_response("after_sale_not_found"),
                    409: problem_response("invalid_state (not rejected by the leader), after_sale_open")},
         summary="The buyer takes a request the leader rejected to the operator")
@authenticated()
def escalate_after_sale(path: AfterSalePath):
    with transaction() as s:
        return _one(s, service.escalate_by_buyer(s, after_sale_id=path.after_sale_id, buyer_id=current().user_id))


def _leader(path: AfterSalePath, body: DecisionBody, approve: bool):
    me = current()
    with transaction() as s:
        return _one(s, service.leader_decide(s, settings=settings(), after_sale_id=path.after_sale_id,
                                             leader_id=me.leader_id, pickup_point_id=me.leader_point_id,
                                             approve=approve, note=body.note))


@bp.post("/leader/after-sales/<int:after_sale_id>/approve", operation_id="leader_approve_after_sale",
         security=BEARER, responses=DECIDED,
         summary="Approve: refunded at once up to LINLI_LEADER_AFTER_SALE_LIMIT; above it the request escalates")
@authenticated("leader")
def leader_approve(path: AfterSalePath, body: DecisionBody):
    return _leader(path, body, True)


@bp.post("/leader/after-sales/<int:after_sale_id>/reject", operation_id="leader_reject_after_sale",
         security=BEARER, responses=DECIDED, summary="Reject (the buyer may escalate it to the operator)")
@authenticated("leader")
def leader_reject(path: AfterSalePath, body: DecisionBody):
    return _leader(path, body, False)


def _operator(path: AfterSalePath, body: DecisionBody, approve: bool):
    with transaction() as s:
        return _one(s, service.operator_decide(s, after_sale_id=path.after_sale_id, user_id=current().user_id,
                                               approve=approve, note=body.note))


@bp.post("/admin/after-sales/<int:after_sale_id>/approve", operation_id="admin_approve_after_sale",
         security=BEARER, responses=DECIDED, summary="The operator approves: refunded to where the money came from")
@authenticated("admin")
def admin_approve(path: AfterSalePath, body: DecisionBody):
    return _operator(path, body, True)


@bp.post("/admin/after-sales/<int:after_sale_id>/reject", operation_id="admin_reject_after_sale",
         security=BEARER, responses=DECIDED, summary="The operator rejects (final)")
@authenticated("admin")
def admin_reject(path: AfterSalePath, body: DecisionBody):
    return _operator(path, body, False)
