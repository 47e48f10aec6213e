from __future__ import annotations

from decimal import Decimal

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.commission import service as commission_service
from app.db import reading, transaction
from app.http import respond, settings
from app.leader import fans, service, shortages
from app.leader.schemas import (ApplicationCreate, ApplicationCreated, ApplicationList, ApplicationPath,
                                ApplicationPublic, ApplicationQuery, Approved, CommissionEntry, CommissionList,
                                CommissionQuery, CommissionTotals, DeliveryPath, FanList, FanPublic, FansQuery,
                                LeaderOrdersQuery, LeaderPath, LeaderPublic, LeaderUpdate, PickupBody, Received,
                                RejectBody, Rejected, ShortageBody, ShortageRefundOut, ShortageResult, ShortageUnits,
                                Summary, SummaryLine, SummaryQuery)
from app.notify import service as notify_service
from app.order import queries as order_queries
from app.order import rules as order_rules
from app.order import transitions as order_transitions
from app.order import views as order_views
from app.order.schemas import LeaderOrderList, OrderPublic
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
        leader = service.get_leader(s, current().leader_id)
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
