from __future__ import annotations

from datetime import timedelta

from flask import Response, request
from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated
from app.db import get_or_raise, reading, transaction, utcnow
from app.errors import InvalidState, NotFound
from app.extensions import limiter
from app.http import problem_response, respond, settings
from app.pagination import decode_cursor, page_of
from app.shipping import flows, push, service, views
from app.shipping.errors import ShippingSyncNotFound
from app.shipping.models import ShippingSync
from app.shipping.schemas import PushQuery, ShippingList, ShippingPath, ShippingQuery, ShippingSyncPublic

bp = APIBlueprint("shipping", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="shipping", description="发货信息录入: WeChat's order shipping sync")])

TEXT = {"text/plain": {"schema": {"type": "string"}}}


def _configured() -> str:
    token = settings().wechat_push_token
    if not token:
        raise NotFound("WeChat message push is not configured on this server.")
    return token


@bp.get("/wechat/push", operation_id="wechat_push_verify",
        responses={200: {"description": "echostr, as WeChat checks when the URL is configured", "content": TEXT},
                   401: problem_response("push_signature_invalid"),
                   404: problem_response("Message push is not configured (LINLI_WECHAT_PUSH_TOKEN)")},
        summary="WeChat's message push URL check: signature verified, echostr answered")
@limiter.exempt
def wechat_push_verify(query: PushQuery):
    token = _configured()
    push.check_signature(token, query.signature, query.timestamp, query.nonce)
    return Response(query.echostr or "", mimetype="text/plain")


@bp.post("/wechat/push", operation_id="wechat_push",
         responses={200: {"description": "success (WeChat's acknowledgement)", "content": TEXT},
                    400: problem_response("bad_push: not a JSON object"),
                    401: problem_response("push_signature_invalid: signature, msg_signature or ciphertext is not "
                                          "WeChat's for our Token, EncodingAESKey and appid"),
                    404: problem_response("Message push is not configured (LINLI_WECHAT_PUSH_TOKEN)")},
         summary="WeChat's message pushes (JSON; plain or safe mode): shipping reminders and settlements "
                 "(trade_manage_*), each applied once; other events acknowledged")
@limiter.exempt  # WeChat's servers; every push is signature-checked
def wechat_push(query: PushQuery):
    _configured()
    flows.receive_push(query=query.model_dump(), body=request.get_data())
    return Response("success", mimetype="text/plain")


@bp.get("/admin/shipping", operation_id="list_shipping_syncs", responses={200: ShippingList}, security=BEARER,
        summary="Shipping syncs newest first (?state=failed: the refusals to look at), counts per state, and "
                "how many WeChat Pay orders paid over LINLI_SHIPPING_OVERDUE_H hours ago are not uploaded")
@authenticated("admin")
def list_shipping_syncs(query: ShippingQuery):
    after_h = settings().shipping_overdue_h
    with reading() as s:
        rows = views.list_syncs(s, state=query.state, before_id=decode_cursor(query.cursor), limit=query.limit)
        counts = views.counts(s)
        overdue = views.overdue_count(s, now=utcnow(), after=timedelta(hours=after_h))
    rows, cursor = page_of(rows, query.limit)
    return respond(ShippingList(items=[ShippingSyncPublic.model_validate(r) for r in rows], next_cursor=cursor,
                                counts=counts, overdue=overdue, overdue_after_h=after_h))


@bp.post("/admin/shipping/<int:sync_id>/retry", operation_id="retry_shipping_sync",
         responses={200: ShippingSyncPublic, 404: problem_response("shipping_sync_not_found"),
                    409: problem_response("invalid_state: only a failed sync can be retried")},
         security=BEARER, summary="Send a failed shipping sync again (WeChat never took it)")
@authenticated("admin")
def retry_shipping_sync(path: ShippingPath):
    with transaction() as s:
        if not service.retry_failed(s, sync_id=path.sync_id):
            sync = get_or_raise(s, ShippingSync, path.sync_id, ShippingSyncNotFound, "Shipping sync")
            raise InvalidState(f"Shipping sync {sync.id} is {sync.state}; only a failed one can be retried.",
                               status_now=sync.state)
        sync = s.get(ShippingSync, path.sync_id)
        s.refresh(sync)
        return respond(ShippingSyncPublic.model_validate(sync))
