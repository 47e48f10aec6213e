from __future__ import annotations

from flask import Response, request
from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.db import reading, retry_conflicts, transaction
from app.http import problem_response, respond, settings
from app.pagination import decode_cursor, page_of
from app.share import service
from app.share.schemas import (LeaderBrief, MyShare, MyShareList, MySharesQuery, PointBrief, ShareCreate, ShareOpened,
                               SharePath, SharePublic, SharerBrief)

bp = APIBlueprint("share", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="share", description="分享: share links, visits, posters")])


def share_public(share) -> SharePublic:
    return SharePublic(token=share.token, path=service.path_of(share), target_type=share.target_type,
                       target_id=share.target_id, sharer_id=share.sharer_id, leader_id=share.leader_id)


@bp.post("/shares", operation_id="create_share", security=BEARER, responses={
    201: SharePublic, 404: problem_response("share_target_not_found: no such product, flash sale, group or "
                                            "bargain record")},
         summary="Share a product, flash sale, group or bargain record: a token and the page to share")
@authenticated()
def create_share(body: ShareCreate):
    with transaction() as s:
        share = service.create_share(s, sharer_id=current().user_id, target_type=body.target_type,
                                     target_id=body.target_id)
        return respond(share_public(share), 201)


@bp.post("/shares/<token>/open", operation_id="open_share", security=BEARER, responses={
    200: ShareOpened, 404: problem_response("share_not_found")},
         summary="Open a share: records my visit once and may bind me to the sharer's leader's point")
@authenticated()
@retry_conflicts
def open_share(path: SharePath):
    with transaction() as s:
        o = service.open_share(s, token=path.token, visitor_id=current().user_id,
                               binding_mode=settings().binding_mode)
        return respond(ShareOpened(
            target_type=o.share.target_type, target_id=o.share.target_id, sharer=SharerBrief(nickname=o.sharer_nickname),
            leader=LeaderBrief(id=o.leader[0], nickname=o.leader[1]) if o.leader else None,
            pickup_point=PointBrief(id=o.point[0], name=o.point[1], address=o.point[2]) if o.point else None,
            bound=o.bound))


@bp.get("/me/shares", operation_id="my_shares", security=BEARER, responses={200: MyShareList},
        summary="My shares with their visits, orders and points earned, newest first")
@authenticated()
def my_shares(query: MySharesQuery):
    with reading() as s:
        rows = service.my_shares(s, sharer_id=current().user_id, before_id=decode_cursor(query.cursor),
                                 limit=query.limit)
        rows, cursor = page_of(rows, query.limit, key=lambda r: r[0].id)
        return respond(MyShareList(items=[
            MyShare(token=sh.token, target_type=sh.target_type, target_id=sh.target_id, visits=int(v), orders=int(n),
                    points_earned=int(p), created_at=sh.created_at) for sh, v, n, p in rows], next_cursor=cursor))


POSTER_CACHE = "private, max-age=86400"


@bp.get("/shares/<token>/poster", operation_id="share_poster", security=BEARER, responses={
    200: {"description": "The poster (PNG): the target's name and price, the pickup point, the mini-program code "
                         "(with LINLI_POSTER_PLACEHOLDER, on by default outside prod: a placeholder code, WeChat "
                         "not asked, the poster not kept)",
          "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
    304: {"description": "Not modified (If-None-Match carried the poster's ETag)"},
    404: problem_response("share_not_found; share_target_not_found (the shared thing is gone)"),
    503: problem_response("poster_unavailable: WeChat did not give the mini-program code (try again later)")},
        summary="A share's poster to save and post: drawn once, then served from the database")
@authenticated()
def share_poster(path: SharePath):
    p = service.poster(token=path.token)
    # A placeholder is revalidated each time: the real poster replaces it once WeChat is set up.
    headers = {"ETag": f'"{p.etag}"', "Cache-Control": "no-cache" if service.is_placeholder(p) else POSTER_CACHE}
    if request.if_none_match.contains(p.etag):
        return Response(status=304, headers=headers)
    return Response(p.png, mimetype="image/png", headers=headers)
