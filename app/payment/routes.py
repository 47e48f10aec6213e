from __future__ import annotations

from flask import Response, current_app, request
from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated
from app.db import reading, transaction
from app.errors import NotFound
from app.extensions import limiter
from app.http import problem_response, respond, settings
from app.pagination import decode_cursor, page_of
from app.payment import service
from app.payment.providers import RefundEvent
from app.payment.schemas import RefundList, RefundPath, RefundPublic, RefundQuery

bp = APIBlueprint("payments", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="payments", description="Provider callbacks, and refunds for operators")])


@bp.post("/payments/wechatpay/notify", operation_id="wechatpay_notify",
         responses={204: None, 400: problem_response("Unreadable or ill-formed notification (bad_notification), or "
                                                     "one for an order that does not exist (unknown_trade)"),
                    401: problem_response("Signature (signature_invalid) or age (notification_stale) check failed")},
         summary="WeChat Pay v3 payment and refund notifications (signature verified, resource decrypted and "
                 "validated, handled once; a payment of the wrong amount is acknowledged and refunded)")
@limiter.exempt  # few source addresses, many notifications; each is signature-checked anyway
def wechatpay_notify():
    if settings().payment_provider != "wechatpay":
        raise NotFound("WeChat Pay is not configured on this server.")
    p = current_app.extensions["linli.payment_provider"]
    # Verification needs the exact bytes WeChat signed, so the raw body is read, not parsed JSON.
    event = p.parse_notification(request.headers, request.get_data(as_text=True))
    if isinstance(event, RefundEvent):
        with transaction() as s:
            service.confirm_refund(s, provider_name=p.name, event=event)
    elif event is not None:
        with transaction() as s:
            service.confirm_payment(s, provider_name=p.name, event=event)
    return Response(status=204)


@bp.get("/admin/refunds", operation_id="list_refunds", responses={200: RefundList}, security=BEARER,
        summary="Refunds, newest first; ?status=failed lists those an operator must look at")
@authenticated("admin")
def list_refunds(query: RefundQuery):
    with reading() as s:
        rows = service.list_refunds(s, status=query.status, before_id=decode_cursor(query.cursor), limit=query.limit)
    rows, cursor = page_of(rows, query.limit)
    return respond(RefundList(items=[RefundPublic.model_validate(r) for r in rows], next_cursor=cursor))


@bp.post("/admin/refunds/<int:refund_id>/retry", operation_id="retry_refund", responses={200: RefundPublic}, security=BEARER,
         summary="Send a failed refund to the provider again (409 invalid_state unless it is failed)")
@authenticated("admin")
def retry_refund(path: RefundPath):
    with transaction() as s:
        refund = service.retry_refund(s, refund_id=path.refund_id)
        return respond(RefundPublic.model_validate(refund))
