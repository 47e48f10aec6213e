from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.coupons import grants, service
from app.coupons.models import Coupon, CouponTemplate, LeaderCouponQuota
from app.coupons.schemas import (CouponList, CouponPublic, DiscountedOrder, GrantBody, GrantOut, LeaderQuota,
                                 LeaderQuotaList, MyCouponsQuery, QuotaBody, QuotaPublic, TemplateCreate, TemplateList,
                                 TemplatePath, TemplatePublic, TemplateStats)
from app.db import reading, retry_conflicts, transaction, utcnow
from app.http import problem_response, respond
from app.order import queries as order_queries
from app.pagination import PageQuery, decode_cursor, page_of

bp = APIBlueprint("coupons", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="coupons", description="Coupons (优惠券) and leaders' exclusive offers (团长专享)")])


def template_public(t: CouponTemplate) -> TemplatePublic:
    return TemplatePublic(**t.model_dump(exclude={"issued"}), issued=t.issued, left=max(t.total - t.issued, 0))


def coupon_public(c: Coupon, t: CouponTemplate, now) -> CouponPublic:
    return CouponPublic(id=c.id, template=template_public(t), status=service.status_of(c, now), claimed_at=c.claimed_at,
                        expires_at=c.expires_at, used_at=c.used_at, leader_id=c.leader_id)


def quota_public(q: LeaderCouponQuota) -> QuotaPublic:
    return QuotaPublic(template_id=q.template_id, leader_id=q.leader_id, quota=q.quota, granted=q.granted,
                       quota_left=q.quota - q.granted, updated_at=q.updated_at)


# ---- operators ----------------------------------------------------------------------------------

@bp.post("/admin/coupon-templates", operation_id="create_coupon_template", security=BEARER,
         responses={201: TemplatePublic, 422: problem_response(
             "validation_error, invalid_coupon_template (max_discount on a fixed coupon, a product that does not "
             "exist)")},
         summary="Create a coupon template: fixed or percent off, minimum spend, total, per-buyer limit, window")
@authenticated("admin")
def create_template(body: TemplateCreate):
    with transaction() as s:
        t = service.create_template(s, **body.model_dump())
        return respond(template_public(t), 201)


@bp.get("/admin/coupon-templates", operation_id="list_coupon_templates", responses={200: TemplateList},
        security=BEARER, summary="Every coupon template, newest first")
@authenticated("admin")
def list_templates(query: PageQuery):
    with reading() as s:
        rows, cursor = page_of(service.list_templates(s, before_id=decode_cursor(query.cursor), limit=query.limit),
                               query.limit)
        return respond(TemplateList(items=[template_public(t) for t in rows], next_cursor=cursor))


@bp.get("/admin/coupon-templates/<int:template_id>", operation_id="get_coupon_template_stats", security=BEARER,
        responses={200: TemplateStats, 404: problem_response("coupon_template_not_found")},
        summary="One template for its operator: issued, unused, used, expired, the orders it discounted, "
                "and per leader the quota used")
@authenticated("admin")
def template_stats(path: TemplatePath):
    with reading() as s:
        t = service.get_template(s, path.template_id)
        counts = service.template_counts(s, template_id=t.id)
        orders, off, latest = order_queries.orders_with_coupons(s, coupon_ids=service.coupon_ids_of(t.id))
        leaders = [quota_public(q) for q in grants.quotas_of_template(s, template_id=t.id)]
        recent = [DiscountedOrder(id=o.id, buyer_id=o.buyer_id, leader_id=o.leader_id, status=o.status, total=o.total,
                                  coupon_id=o.coupon_id, coupon_discount=o.coupon_discount, created_at=o.created_at)
                  for o in latest]
        out = TemplateStats(**template_public(t).model_dump(), unused=counts["unused"], used=counts["used"],
                            expired=counts["expired"], orders=orders, discount_total=off, recent_orders=recent,
                            leaders=leaders)
    return respond(out)


@bp.post("/admin/coupon-templates/<int:template_id>/leader-quotas", operation_id="set_coupon_leader_quota",
         security=BEARER, responses={200: QuotaPublic, 404: problem_response("coupon_template_not_found, "
                                                                             "leader_not_found"),
                                     409: problem_response("quota_below_granted")},
         summary="Let a leader hand out up to `quota` of the template to their fans (sets it; not below what "
                 "they granted)")
@authenticated("admin")
@retry_conflicts
def set_quota(path: TemplatePath, body: QuotaBody):
    with transaction() as s:
        q = grants.set_quota(s, template_id=path.template_id, leader_id=body.leader_id, quota=body.quota)
        return respond(quota_public(q))


# ---- buyers -------------------------------------------------------------------------------------

@bp.get("/coupon-templates", operation_id="list_claimable_coupons", responses={200: TemplateList}, security=BEARER,
        summary="Coupons I can claim now, with how many are left")
@authenticated()
def list_claimable(query: PageQuery):
    with reading() as s:
        rows, cursor = page_of(service.list_claimable(s, before_id=decode_cursor(query.cursor), limit=query.limit),
                               query.limit)
        return respond(TemplateList(items=[template_public(t) for t in rows], next_cursor=cursor))


@bp.post("/coupon-templates/<int:template_id>/claim", operation_id="claim_coupon", security=BEARER,
         responses={201: CouponPublic, 404: problem_response("coupon_template_not_found"),
                    409: problem_response("coupons_gone (its total is issued), claim_limit_reached (I hold "
                                          "per_user_limit of it), coupon_not_claimable (outside its window, or "
                                          "leaders' only)")},
         summary="Claim one coupon of a template")
@authenticated()
@retry_conflicts
def claim(path: TemplatePath):
    with transaction() as s:
        c = service.claim(s, template_id=path.template_id, buyer_id=current().user_id)
        return respond(coupon_public(c, service.get_template(s, c.template_id), utcnow()), 201)


@bp.get("/me/coupons", operation_id="my_coupons", responses={200: CouponList}, security=BEARER,
        summary="My coupons, newest first; ?status=unused|used|expired")
@authenticated()
def my_coupons(query: MyCouponsQuery):
    now = utcnow()
    with reading() as s:
        rows = service.list_mine(s, owner_id=current().user_id, status=query.status,
                                 before_id=decode_cursor(query.cursor), limit=query.limit, now=now)
        rows, cursor = page_of(rows, query.limit)
        templates = service.templates_by_id(s, {c.template_id for c in rows})
        return respond(CouponList(items=[coupon_public(c, templates[c.template_id], now) for c in rows],
                                  next_cursor=cursor))


# ---- leaders ------------------------------------------------------------------------------------

@bp.post("/leader/coupon-grants", operation_id="grant_coupons", security=BEARER,
         responses={201: GrantOut, 404: problem_response("coupon_template_not_found"),
                    409: problem_response("no_coupon_quota (none given, or all handed out), coupons_gone (the "
                                          "template's total is issued), coupon_not_claimable (the template ended), "
                                          "coupon_leader_has_no_point")},
         summary="Give one coupon to each fan of a segment who holds none of it yet, within my quota; each is told")
@authenticated("leader")
@retry_conflicts
def grant(body: GrantBody):
    p = current()
    with transaction() as s:
        r = grants.grant_to_segment(s, leader_id=p.leader_id, leader_user_id=p.user_id,
                                    pickup_point_id=p.leader_point_id, template_id=body.template_id,
                                    segment=body.segment)
        return respond(GrantOut(id=r.grant.id, template_id=r.grant.template_id, segment=r.grant.segment,
                                granted=r.grant.granted, quota_left=r.quota_left), 201)


@bp.get("/leader/coupon-quotas", operation_id="my_coupon_quotas", responses={200: LeaderQuotaList}, security=BEARER,
        summary="The coupons the operator lets me hand out, and how much of each quota is left")
@authenticated("leader")
def my_quotas():
    with reading() as s:
        rows = grants.quotas_of_leader(s, leader_id=current().leader_id)
        return respond(LeaderQuotaList(items=[LeaderQuota(template=template_public(t), quota=q.quota, granted=q.granted,
                                                          quota_left=q.quota - q.granted) for q, t in rows]))
