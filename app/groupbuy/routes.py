from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.db import reading, retry_conflicts, transaction, utcnow
from app.groupbuy import admin_reads, service
from app.groupbuy.schemas import (GroupAndOrder, GroupBuyAdmin, GroupBuyAdminList, GroupBuyCreate, GroupBuyList,
                                  GroupBuyPath, GroupBuyPublic, GroupPath, GroupPublic, JoinBody, MemberPublic)
from app.http import problem_response, respond, settings
from app.idempotency import idempotent
from app.order import views as order_views
from app.pagination import PageQuery, decode_cursor, page_of

bp = APIBlueprint("groupbuy", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="group-buy", description="拼团: groups that fill with paid members")])


def group_public(s, group_id: int) -> GroupPublic:
    group, campaign, names = service.share_view(s, group_id=group_id)
    return GroupPublic(id=group.id, status=group.status, campaign=GroupBuyPublic.model_validate(campaign,
                                                                                                from_attributes=True),
                       members=[MemberPublic(nickname=n) for n in names], paid_count=group.paid_count,
                       needed=max(group.group_size - group.paid_count, 0), expires_at=group.expires_at)


@bp.post("/admin/group-buys", operation_id="create_group_buy", security=BEARER,
         responses={201: GroupBuyPublic, 409: problem_response("out_of_stock (the campaign's own stock); "
                                                              "sku_unavailable")},
         summary="Create a group-buy campaign")
@authenticated("admin")
def create_group_buy(body: GroupBuyCreate):
    with transaction() as s:
        campaign = service.create_campaign(s, **body.model_dump())
        return respond(GroupBuyPublic.model_validate(campaign, from_attributes=True), 201)


@bp.get("/admin/group-buys", operation_id="admin_list_group_buys", security=BEARER,
        responses={200: GroupBuyAdminList}, summary="Every group-buy campaign, newest first, with its state and groups")
@authenticated("admin")
def admin_list_group_buys(query: PageQuery):
    with reading() as s:
        rows = admin_reads.list_all(s, before_id=decode_cursor(query.cursor), limit=query.limit)
        rows, cursor = page_of(rows, query.limit)
        counts, now = admin_reads.group_counts(s, [c.id for c in rows]), utcnow()
        items = [GroupBuyAdmin(**GroupBuyPublic.model_validate(c, from_attributes=True).model_dump(),
                               state=admin_reads.state(c, now), groups_forming=counts[c.id]["forming"],
                               groups_succeeded=counts[c.id]["succeeded"], groups_failed=counts[c.id]["failed"])
                 for c in rows]
        return respond(GroupBuyAdminList(items=items, next_cursor=cursor))


@bp.get("/group-buys", operation_id="list_group_buys", responses={200: GroupBuyList},
        summary="Group-buy campaigns inside their window (no login needed: the mini-program's campaign page)")
def list_group_buys():
    with reading() as s:
        return respond(GroupBuyList(items=[GroupBuyPublic.model_validate(c, from_attributes=True)
                                           for c in service.active_campaigns(s)]))


@bp.post("/group-buys/<int:group_buy_id>/groups", operation_id="open_group", security=BEARER,
         responses={201: GroupAndOrder, 409: problem_response(
             "group_already_open (one forming group per buyer and campaign), not_started, ended, "
             "limit_exceeded, sold_out, out_of_stock, too_many_unpaid_orders")},
         summary="Open a group (开团): the group, forming, and my order, unpaid")
@authenticated()
@retry_conflicts
@idempotent
def open_group(path: GroupBuyPath, body: JoinBody):
    with transaction() as s:
        group, order = service.open_group(s, settings=settings(), campaign_id=path.group_buy_id,
                                          buyer_id=current().user_id, qty=body.qty,
                                          pickup_point_id=body.pickup_point_id)
        return respond(GroupAndOrder(group=group_public(s, group.id), order=order_views.order_public_one(s, order)),
                       201)


@bp.post("/groups/<int:group_id>/join", operation_id="join_group", security=BEARER,
         responses={201: GroupAndOrder, 409: problem_response(
             "group_full, group_closed, already_member, limit_exceeded, sold_out, out_of_stock, "
             "too_many_unpaid_orders")},
         summary="Join a group through its share link: my order, unpaid")
@authenticated()
@retry_conflicts
@idempotent
def join_group(path: GroupPath, body: JoinBody):
    with transaction() as s:
        group, order = service.join_group(s, settings=settings(), group_id=path.group_id,
                                          buyer_id=current().user_id, qty=body.qty,
                                          pickup_point_id=body.pickup_point_id)
        return respond(GroupAndOrder(group=group_public(s, group.id), order=order_views.order_public_one(s, order)),
                       201)


@bp.get("/groups/<int:group_id>", operation_id="get_group", security=BEARER, responses={200: GroupPublic},
        summary="A group's share view: members, paid count, places still needed, deadline")
@authenticated()
def get_group(path: GroupPath):
    with reading() as s:
        return respond(group_public(s, path.group_id))
