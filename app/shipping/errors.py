"""The shipping domain's refusals."""
from __future__ import annotations

from app.errors import DomainError, NotFound


class ShippingSyncNotFound(NotFound):
    code = "shipping_sync_not_found"


class PushSignatureInvalid(DomainError):
    """A message push whose signature (or, in safe mode, msg_signature and ciphertext) is not
    WeChat's for our Token and EncodingAESKey."""

    status, code = 401, "push_signature_invalid"


class BadPush(DomainError):
    status, code = 400, "bad_push"
