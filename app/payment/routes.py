from __future__ import annotations

from flask import Response, current_app, request
from flask_openapi3 import APIBlueprint, Tag

from app.db import transaction
from app.errors import NotFound
from app.http import problem_response, settings
from app.extensions import limiter
from app.payment import service
from app.payment.providers import RefundEvent

bp = APIBlueprint("payments", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="payments", description="Provider callbacks")])


@bp.post("/payments/wechatpay/notify", operation_id="wechatpay_notify",
         responses={204: None, 400: problem_response("Unreadable notification (bad_notification) or a payment that "
                                                     "cannot be applied (amount_mismatch, unknown_trade)"),
                    401: problem_response("Signature (signature_invalid) or age (notification_stale) check failed")},
         summary="WeChat Pay v3 payment and refund notifications (signature verified, resource decrypted, handled once)")
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
            payment = service.confirm_payment(s, provider_name=p.name, event=event)
        # Raised after the commit: the mismatch stays recorded (once), and WeChat hears a failure.
        if payment.status == "amount_mismatch":
            raise service.AmountMismatch(f"Paid {payment.amount} fen does not match the order total.",
                                         message="amount mismatch")
    return Response(status=204)
