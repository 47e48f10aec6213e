from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.commission import service as commission_service
from app.db import reading, transaction
from app.http import respond, settings
from app.leader import service as leader_service
from app.notify import service as notify_service
from app.order import queries as order_queries
from app.order import rules as order_rules
from app.order import transitions as order_transitions
from app.order import views as order_views
from app.order.schemas import LeaderOrderList, OrderPublic
from app.pagination import decode_cursor, page_of
from app.workbench import fans, shortages
from app.workbench.schemas import (CommissionEntry, CommissionList, CommissionQuery, CommissionTotals, DeliveryPath,
                                   FanList, FanPublic, FansQuery, LeaderOrdersQuery, PickupBody, Received, ShortageBody,
                                   ShortageRefundOut, ShortageResult, ShortageUnits, Summary, SummaryLine, SummaryQuery)

bp = APIBlueprint("workbench", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="workbench", description="The leader's daily work at their own pickup point")])


# ---- the leader's workbench: always the caller's own pickup point ---------------------------

@bp.get("/leader/orders", operation_id="list_leader_orders", responses={200: LeaderOrderList}, security=BEARER,
        summary="Orders at my pickup point")
@authenticated("leader")
def leader_orders(query: LeaderOrdersQuery):
    with reading() as s:
        rows = order_queries.leader_orders(s, pickup_point_id=current().leader_point_id,
                                           delivery_date=query.delivery_date, status=query.status,
                                           before_id=decode_cursor(query.cursor), limit=query.limit)
        rows, cursor = page_of(rows, query.limit, key=lambda r: r[0].id)
        return respond(LeaderOrderList(items=order_views.leader_orders(s, rows), next_cursor=cursor))


@bp.get("/leader/summary", operation_id="get_leader_summary", responses={200: Summary}, security=BEARER,
        summary="What my point receives for a delivery date, and the commission it should earn")
@authenticated("leader")
def leader_summary(query: SummaryQuery):
    day = query.delivery_date or order_rules.local_today(settings())
    with reading() as s:
        count, total, lines = order_queries.leader_summary(s, pickup_point_id=current().leader_point_id,
                                                           delivery_date=day)
        leader = leader_service.get_leader(s, current().leader_id)
    rate = commission_service.rate_bp_for(leader, settings())
    return respond(Summary(delivery_date=day, order_count=count, total=total,
                           commission_expected=commission_service.amount_for(total, rate),
                           lines=[SummaryLine(sku_id=sku_id, name=f"{p} {k}".strip(), qty=int(q))
                                  for sku_id, p, k, q in lines]))


@bp.post("/leader/deliveries/<delivery_date>/receive", operation_id="receive_delivery", responses={200: Received},
         security=BEARER,
         summary="Goods for a delivery date arrived at my point: shipped orders become arrived")
@authenticated("leader")
def receive(path: DeliveryPath):
    with transaction() as s:
        orders = order_transitions.receive_delivery(s, pickup_point_id=current().leader_point_id,
                                                delivery_date=path.delivery_date)
        return respond(Received(arrived=len(orders)))


SHORTAGE_DESCRIPTION = """\
The leader reports units missing from the delivery for a date at their own point. Per SKU,
`missing_qty` is the TOTAL missing for that SKU at this point and date so far, not an increment:
the recorded total only grows, and a report refunds exactly what it adds to it. Reporting the same
figure twice refunds nothing more; a higher figure later refunds only the difference; a lower one
changes nothing (refunds are never taken back); two reports at once never refund the same units.

The units are refunded across the date's shipped and arrived orders at the point that hold the
SKU, latest paid first (paid_at, then id, descending): each order is refunded unit_price × units
as one partial refund through the payment provider, and never loses more units than it had; an
order left with no unit becomes `refunded`. The leader's commission is earned on what the order
kept. Each affected buyer is notified (`order.shortage`).

409 `shortage_exceeds_delivery` (and nothing is refunded or recorded) when a total passes the
units shipped to the point for the date, or when the units to refund are no longer at the point
(handed out already); its `lines` say which SKUs and by how much.
"""


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


@bp.post("/leader/deliveries/<delivery_date>/shortages", operation_id="report_shortage",
         responses={200: ShortageResult}, security=BEARER,
         summary="Report units missing from a delivery to my point: they are refunded, latest-paid orders first",
         description=SHORTAGE_DESCRIPTION)
@authenticated("leader")
def report_shortage(path: DeliveryPath, body: ShortageBody):
    with transaction() as s:
        refunds = shortages.report_shortage(s, pickup_point_id=current().leader_point_id,
                                            delivery_date=path.delivery_date,
                                            missing={x.sku_id: x.missing_qty for x in body.lines})
        for r in refunds:
            what = "，".join(f"{u.name} × {u.qty}" for u in r.units)
            notify_service.notify(
                s, user_id=r.order.buyer_id, event="order.shortage",
                data={"id": r.order.id, "status": r.order.status, "delivery_date": r.order.delivery_date,
                      "amount": r.amount, "items": [{"sku_id": u.sku_id, "qty": u.qty} for u in r.units]},
                title="商品缺货退款",
                body=f"很抱歉，您 {r.order.delivery_date} 的订单 #{r.order.id} 中有商品未送达自提点：{what}。"
                     f"已为您退款 {_yuan(r.amount)}，将按原支付方式退回。")
        return respond(ShortageResult(refunds=[
            ShortageRefundOut(order_id=r.order.id, amount=r.amount,
                              items=[ShortageUnits(sku_id=u.sku_id, name=u.name, qty=u.qty) for u in r.units])
            for r in refunds]))


@bp.post("/leader/pickups", operation_id="verify_pickup", responses={200: OrderPublic}, security=BEARER,
         summary="Hand an order over against its pickup code")
@authenticated("leader")
def pickup(body: PickupBody):
    with transaction() as s:
        order = order_transitions.verify_pickup(s, pickup_point_id=current().leader_point_id,
                                                pickup_code=body.pickup_code, delivery_date=body.delivery_date)
        return respond(order_views.order_public_one(s, order))


@bp.get("/leader/commissions", operation_id="list_commissions", responses={200: CommissionList}, security=BEARER,
        summary="My commission ledger with totals")
@authenticated("leader")
def commissions(query: CommissionQuery):
    with reading() as s:
        rows = commission_service.list_for_leader(s, leader_id=current().leader_id, status=query.status,
                                                  before_id=decode_cursor(query.cursor), limit=query.limit)
        totals = commission_service.totals_for_leader(s, leader_id=current().leader_id)
    rows, cursor = page_of(rows, query.limit)
    return respond(CommissionList(items=[CommissionEntry(**c.model_dump()) for c in rows],
                                  totals=CommissionTotals(**totals), next_cursor=cursor))


@bp.get("/leader/fans", operation_id="list_fans", responses={200: FanList}, security=BEARER,
        summary="My fans: the buyers bound to my pickup point, with what they ordered here, by segment",
        description=fans.SEGMENT_DESCRIPTION)
@authenticated("leader")
def list_fans(query: FansQuery):
    p = current()
    if p.leader_point_id is None:
        return respond(FanList(items=[]))
    with reading() as s:
        rows = fans.list_fans(s, pickup_point_id=p.leader_point_id, leader_user_id=p.user_id, segment=query.segment,
                              before_id=decode_cursor(query.cursor), limit=query.limit)
    rows, cursor = page_of(rows, query.limit, key=lambda r: r.user_id)
    return respond(FanList(items=[FanPublic.model_validate(r._mapping) for r in rows], next_cursor=cursor))
