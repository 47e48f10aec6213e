"""The payment domain's refusals, each with its stable code."""
from __future__ import annotations

from typing import Any

from app.errors import BadRequest, Conflict, DomainError, InvalidState, NotFound, ServiceUnavailable, Unauthorized


class UnknownTrade(BadRequest):
    code = "unknown_trade"


class RefundNotFound(NotFound):
    code = "refund_not_found"


class RefundExceedsPayment(Conflict):
    code = "refund_exceeds_payment"


class NothingToRefund(InvalidState):
    """The order has no applied payment (never paid, or paid through no provider)."""


class _WechatReply(DomainError):
    """WeChat Pay reads `{code, message}` from a failed notification answer; problem+json
    already carries `code`, so `message` is added."""

    def __init__(self, detail: str | None = None, **extra: Any):
        extra.setdefault("message", detail or self.code)
        super().__init__(detail, **extra)


class SignatureInvalid(_WechatReply, Unauthorized):
    code = "signature_invalid"


class NotificationStale(_WechatReply, Unauthorized):
    code = "notification_stale"


class BadNotification(_WechatReply, BadRequest):
    code = "bad_notification"


class PaymentProviderUnavailable(ServiceUnavailable):
    code = "payment_provider_unavailable"


class PaymentProviderRejected(DomainError):
    """WeChat Pay answered, and said no (a 4xx with its own code, kept in provider_code)."""

    status, code = 502, "payment_provider_rejected"


class BillNotReady(ServiceUnavailable):
    """WeChat Pay is still making the day's bill (STATEMENT_CREATING): ask again later."""

    code = "bill_not_ready"


class BillUnreadable(DomainError):
    """A downloaded bill whose hash, format or totals do not check out."""

    status, code = 502, "bill_unreadable"
