from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth import service, wechat
from app.auth.schemas import (BindPickupPoint, BuyerAdmin, BuyerAdminList, BuyerQuery, DevLogin, ProfileUpdate,
                              TokenOut, UserPublic, WechatLogin)
from app.auth.security import BEARER, authenticated, current, issue_token
from app.db import reading, transaction
from app.errors import NotFound
from app.extensions import limiter
from app.http import problem_response, respond, settings
from app.pagination import decode_cursor, page_of
from app.request_context import request_is_local

bp = APIBlueprint("auth", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="auth", description="Login and me")])
auth_limit = limiter.limit(lambda: settings().ratelimit_auth)


def _login_response(s, user):
    leader = service.leader_of(s, user.id)
    return respond(TokenOut(token=issue_token(user, leader), user=UserPublic(**service.profile(s, user.id))))


@bp.post("/auth/wechat", operation_id="wechat_login", summary="Log in with a wx.login code", responses={
    200: TokenOut,
    401: problem_response("wechat_code_invalid: WeChat rejected the code (invalid, already used, or blocked)"),
    429: problem_response("rate_limited (this API) or wechat_rate_limited (WeChat's quota)"),
    503: problem_response("wechat_unavailable: WeChat could not be reached or failed")})
@auth_limit
def wechat_login(body: WechatLogin):
    ws = wechat.jscode2session(settings(), body.code)
    with transaction() as s:
        user = service.upsert_user(s, openid=ws.openid, unionid=ws.unionid)
        return _login_response(s, user)


@bp.post("/auth/dev-login", operation_id="dev_login", responses={200: TokenOut},
         summary="Development login (LINLI_DEV_LOGIN=1 only)")
@auth_limit
def dev_login(body: DevLogin):
    # Outside prod a server may still be reachable from elsewhere (a forgotten LINLI_ENV): the
    # admin-granting dev login answers this machine only unless LINLI_ALLOW_REMOTE_DEV=1.
    if not settings().dev_login or not (settings().allow_remote_dev or request_is_local()):
        raise NotFound("Not found.")
    with transaction() as s:
        user = service.upsert_user(s, openid=body.openid, nickname=body.nickname, admin=body.admin)
        return _login_response(s, user)


@bp.get("/me", operation_id="get_me", responses={200: UserPublic}, security=BEARER,
        summary="Who I am: roles, bound pickup point, my own point if I lead one")
@authenticated()
def me():
    with reading() as s:  # a read never waits for (or takes) SQLite's write lock
        return respond(UserPublic(**service.profile(s, current().user_id)))


@bp.patch("/me", operation_id="update_me", responses={200: UserPublic}, security=BEARER,
          summary="Update my nickname or phone")
@authenticated()
def update_me(body: ProfileUpdate):
    with transaction() as s:
        service.update_profile(s, user_id=current().user_id, **body.model_dump(exclude_unset=True, exclude_none=True))
        return respond(UserPublic(**service.profile(s, current().user_id)))


@bp.put("/me/pickup-point", operation_id="bind_pickup_point", responses={200: UserPublic}, security=BEARER,
        summary="Bind me to a pickup point (my default for orders)")
@authenticated()
def bind_pickup_point(body: BindPickupPoint):
    with transaction() as s:
        service.bind_pickup_point(s, user_id=current().user_id, pickup_point_id=body.pickup_point_id)
        return respond(UserPublic(**service.profile(s, current().user_id)))


@bp.get("/admin/buyers", operation_id="admin_list_buyers", responses={200: BuyerAdminList}, security=BEARER,
        summary="Every user, newest first, searched by the phone's last digits")
@authenticated("admin")
def admin_list_buyers(query: BuyerQuery):
    with reading() as s:
        rows = service.list_buyers(s, phone_tail=query.phone_tail, before_id=decode_cursor(query.cursor),
                                   limit=query.limit)
        rows, cursor = page_of(rows, query.limit)
        return respond(BuyerAdminList(items=[BuyerAdmin.model_validate(u, from_attributes=True) for u in rows],
                                      next_cursor=cursor))
