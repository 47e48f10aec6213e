"""WeChat Pay API v3 (JSAPI / mini-program) through wechatpayv3, in "WeChat Pay public key" mode:
responses and notifications are verified with the public key configured here, so nothing is
downloaded at start-up and no platform certificate is ever fetched."""
from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt, load_public_key, rsa_verify

from app.config import Settings
from app.payment.errors import (BadNotification, NotificationStale, PaymentProviderRejected, PaymentProviderUnavailable,
                                SignatureInvalid)
from app.payment.providers import OUT_TRADE_NO_PATTERN, PaymentEvent, RefundEvent, RefundResult

log = logging.getLogger(__name__)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"


def _read(path: str, what: str) -> str:
    if not path:
        raise RuntimeError(f"LINLI_WECHATPAY_{what} must be set when LINLI_PAYMENT_PROVIDER=wechatpay")
    return Path(path).read_text(encoding="utf-8")


class WechatPayProvider:
    name = "wechatpay"

    def __init__(self, settings: Settings):
        self.settings = settings
        missing = [n for n in ("mchid", "cert_serial_no", "apiv3_key") if not getattr(settings, f"wechatpay_{n}")]
        if missing:
            raise RuntimeError("WeChat Pay is selected but these settings are empty: "
                               + ", ".join(f"LINLI_WECHATPAY_{n.upper()}" for n in missing))
        paths = dict(settings.wechatpay_public_keys)
        if settings.wechatpay_public_key_id:
            paths[settings.wechatpay_public_key_id] = settings.wechatpay_public_key_path
        if not paths:
            raise RuntimeError("WeChat Pay is selected but no WeChat Pay public key is configured: set "
                               "LINLI_WECHATPAY_PUBLIC_KEY_ID and _PATH, or LINLI_WECHATPAY_PUBLIC_KEYS")
        pems = {key_id: _read(path, f"PUBLIC_KEY_PATH of {key_id}") for key_id, path in paths.items()}
        # The key named on our own requests (Wechatpay-Serial): the single one, else the first listed.
        current_id = settings.wechatpay_public_key_id or next(iter(pems))
        self._wx = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=settings.wechatpay_mchid,
            private_key=_read(settings.wechatpay_private_key_path, "PRIVATE_KEY_PATH"),
            cert_serial_no=settings.wechatpay_cert_serial_no,
            appid=settings.wechat_appid,
            apiv3_key=settings.wechatpay_apiv3_key,
            notify_url=settings.wechatpay_notify_url,
            logger=None,
            timeout=(min(settings.wechat_timeout_s, 5.0), settings.wechat_timeout_s),
            # Public key mode: with both given, wechatpayv3 never calls /v3/certificates at init.
            public_key=pems[current_id],
            public_key_id=current_id,
        )
        # wechatpayv3 hard-codes the gateway; tests and proxies point it elsewhere.
        self._wx._core._gate_way = settings.wechatpay_api_base.rstrip("/")
        self._public_keys = {key_id: load_public_key(pem) for key_id, pem in pems.items()}
        # Answers are verified against the same trusted keys as notifications (wechatpayv3 knows
        # one, and would go and download platform certificates for any other serial).
        self._wx._core._verify_signature = self._verify_answer

    # ---- talking to WeChat Pay -----------------------------------------------------------

    def _call(self, what: str, fn, **kw) -> tuple[int, dict[str, Any]]:
        """One API call; transport failures and unverifiable answers are "unavailable"."""
        try:
            code, text = fn(**kw)
        except Exception as e:  # noqa: BLE001 - requests errors, bad response signature, ...
            log.warning("wechatpay %s failed: %s: %s", what, type(e).__name__, e)
            raise PaymentProviderUnavailable(f"WeChat Pay could not be reached ({what}); try again shortly.") from e
        try:
            body = json.loads(text) if text else {}
        except (TypeError, ValueError):
            body = {}
        if not isinstance(body, dict):
            body = {}
        return code, body

    def signed_get(self, path: str, *, verify_answer: bool = True) -> tuple[int, Any]:
        """GET a v3 path (query included) with the merchant's signature: the bill APIs. A bill
        file comes back unsigned (WeChat Pay signs no download; its hash is the check), as bytes;
        a JSON answer as text. Transport failures are "unavailable"."""
        if path.startswith(("http://", "https://")):
            gateway = self._wx._core._gate_way
            if not path.startswith(gateway + "/"):
                # The merchant's signed request goes to WeChat Pay's gateway and nowhere else.
                raise PaymentProviderRejected("A bill download_url outside the WeChat Pay gateway was refused.")
            path = path[len(gateway):]
        try:
            return self._wx._core.request(path, skip_verify=not verify_answer)
        except Exception as e:  # noqa: BLE001 - requests errors, bad response signature, ...
            log.warning("wechatpay GET %s failed: %s", path.split("?")[0], type(e).__name__)
            raise PaymentProviderUnavailable("WeChat Pay could not be reached; try again shortly.") from e

    def prepay(self, *, out_trade_no: str, amount: int, description: str, payer_openid: str,
               expires_at: datetime) -> dict[str, Any]:
        s = self.settings
        code, body = self._call(
            "jsapi prepay", self._wx.pay,
            description=description[:127], out_trade_no=out_trade_no,
            amount={"total": amount, "currency": "CNY"}, payer={"openid": payer_openid},
            time_expire=expires_at.astimezone(s.tz).isoformat(timespec="seconds"),
            notify_url=s.wechatpay_notify_url, pay_type=WeChatPayType.JSAPI)
        if code >= 500 or code == 429:
            raise PaymentProviderUnavailable(f"WeChat Pay is unavailable (HTTP {code}); try again shortly.",
                                             provider_code=body.get("code"))
        if code >= 300 or not body.get("prepay_id"):
            log.error("wechatpay prepay for %s rejected: HTTP %s %s", out_trade_no, code, body)
            raise PaymentProviderRejected(f"WeChat Pay refused the payment: {body.get('message') or code}",
                                          provider_code=body.get("code"))
        return self.request_payment_params(body["prepay_id"])

    def request_payment_params(self, prepay_id: str) -> dict[str, str]:
        """What wx.requestPayment takes; paySign is RSA-SHA256 with the merchant key over
        appId, timeStamp, nonceStr and package, one per line."""
        app_id = self.settings.wechat_appid
        timestamp = str(int(time.time()))
        nonce = uuid.uuid4().hex
        package = f"prepay_id={prepay_id}"
        return {"appId": app_id, "timeStamp": timestamp, "nonceStr": nonce, "package": package,
                "signType": "RSA", "paySign": self._wx.sign([app_id, timestamp, nonce, package])}

    # WeChat Pay's error codes that mean "not now" rather than "never" (balance, rate, their side).
    _TRANSIENT = {"NOT_ENOUGH", "FREQUENCY_LIMITED", "SYSTEM_ERROR", "RATELIMIT_EXCEEDED"}

    def _refund_result(self, code: int, body: dict[str, Any]) -> RefundResult:
        status = body.get("status")
        if code < 300:
            detail = str(body.get("refund_id") or "")[:64]
            if status == "SUCCESS":
                return RefundResult(status="succeeded", detail=detail)
            if status == "PROCESSING":
                return RefundResult(status="processing", detail=detail)
            if status in ("CLOSED", "ABNORMAL"):
                return RefundResult(status="failed", detail=f"provider reported {status}")
        detail = f"HTTP {code} {body.get('code') or status or ''}: {body.get('message', '')}".strip()[:500]
        if code >= 500 or code == 429 or body.get("code") in self._TRANSIENT or code < 300:
            return RefundResult(status="retry", detail=detail)
        if code == 404 and body.get("code") == "RESOURCE_NOT_EXISTS":
            return RefundResult(status="not_found", detail=detail)
        return RefundResult(status="failed", detail=detail)

    def refund(self, *, out_trade_no: str, transaction_id: str | None, out_refund_no: str, amount: int,
               total: int, reason: str) -> RefundResult:
        try:
            code, body = self._call(
                "refund", self._wx.refund, out_refund_no=out_refund_no,
                amount={"refund": amount, "total": total, "currency": "CNY"},
                transaction_id=transaction_id, out_trade_no=None if transaction_id else out_trade_no,
                reason=reason[:80] or None)
        except PaymentProviderUnavailable as e:
            return RefundResult(status="retry", detail=e.detail or "unavailable")
        result = self._refund_result(code, body)
        # A refund request is never "not found": that would be the payment it names (refused).
        return RefundResult(status="failed", detail=result.detail) if result.status == "not_found" else result

    def query_refund(self, *, out_refund_no: str) -> RefundResult:
        """GET /v3/refund/domestic/refunds/{out_refund_no}."""
        try:
            code, body = self._call("refund query", self._wx.query_refund, out_refund_no=out_refund_no)
        except PaymentProviderUnavailable as e:
            return RefundResult(status="retry", detail=e.detail or "unavailable")
        return self._refund_result(code, body)

    # ---- notifications -------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: str) -> PaymentEvent | RefundEvent | None:
        """Verify, check the age of, decrypt and validate a payment notification.

        Returns the event for a successful payment or a finished refund, None for anything else WeChat tells us
        (acknowledged, no effect); raises for notifications that must not be trusted or cannot be read. Nothing
        of the notification is used before its schema (types, lengths of the columns it lands in, ASCII
        identifiers) accepts it.
        """
        envelope, plain = self.open_notification(headers, body)
        event_type = envelope.event_type
        if event_type.startswith("REFUND."):
            refund = _validated(RefundResource, plain, "refund resource")
            self._check_merchant(refund.mchid)
            return RefundEvent(out_refund_no=refund.out_refund_no, succeeded=refund.refund_status == "SUCCESS",
                               status=refund.refund_status, at=refund.success_time,
                               raw=refund.model_dump(mode="json", exclude_none=True))
        if event_type == "TRANSACTION.SUCCESS":
            txn = _validated(TransactionResource, plain, "payment resource")
            self._check_merchant(txn.mchid, txn.appid)
            if txn.trade_state == "SUCCESS":
                return PaymentEvent(out_trade_no=txn.out_trade_no, transaction_id=txn.transaction_id,
                                    amount=txn.amount.total, paid_at=txn.success_time,
                                    raw=txn.model_dump(mode="json", exclude_none=True))
        log.info("wechatpay notification %s (%s) acknowledged without effect", envelope.id, event_type)
        return None

    def open_notification(self, headers: Mapping[str, str], body: str) -> tuple["Envelope", str]:
        """Any notification (payments, refunds, transfers): signature and age checked, the envelope
        validated, the resource decrypted (its plaintext JSON is the caller's to validate)."""
        self._verify(headers, body)
        envelope = _validated(Envelope, body, "notification")
        resource = envelope.resource
        try:
            plain = aes_decrypt(nonce=resource.nonce, ciphertext=resource.ciphertext,
                                associated_data=resource.associated_data or "",
                                apiv3_key=self.settings.wechatpay_apiv3_key)
        except Exception as e:  # noqa: BLE001 - base64, nonce size, ...
            raise BadNotification(f"The notification resource could not be read: {type(e).__name__}.") from e
        if plain is None:
            raise BadNotification("The notification resource could not be decrypted with the APIv3 key.")
        return envelope, plain

    def _check_merchant(self, mchid: str, appid: str | None = None) -> None:
        if mchid != self.settings.wechatpay_mchid:
            raise BadNotification("The notification is for another merchant (mchid).")
        if appid is not None and appid != self.settings.wechat_appid:
            raise BadNotification("The notification is for another mini-program (appid).")

    def _verify_answer(self, headers: Mapping[str, str], body: str) -> bool:
        """wechatpayv3's hook for the answers to our own requests: the same trusted keys."""
        key = self._public_keys.get(headers.get("Wechatpay-Serial", ""))
        return key is not None and rsa_verify(headers.get("Wechatpay-Timestamp", ""),
                                              headers.get("Wechatpay-Nonce", ""), body,
                                              headers.get("Wechatpay-Signature", ""), key)

    def _verify(self, headers: Mapping[str, str], body: str) -> None:
        signature = headers.get("Wechatpay-Signature")
        timestamp = headers.get("Wechatpay-Timestamp")
        nonce = headers.get("Wechatpay-Nonce")
        serial = headers.get("Wechatpay-Serial")
        if not (signature and timestamp and nonce and serial):
            raise SignatureInvalid("Wechatpay-Signature, -Timestamp, -Nonce and -Serial are required.")
        if headers.get("Wechatpay-Signature-Type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
            raise SignatureInvalid("Unsupported Wechatpay-Signature-Type.")
        # Only the configured public keys are trusted: wechatpayv3's own check would go and fetch
        # platform certificates for any other serial an anonymous caller sends.
        public_key = self._public_keys.get(serial)
        if public_key is None:
            raise SignatureInvalid("Wechatpay-Serial is not a configured WeChat Pay public key.")
        if not rsa_verify(timestamp, nonce, body, signature, public_key):
            raise SignatureInvalid("The notification signature does not verify.")
        # The timestamp is part of what was signed, so it is trustworthy from here on (but a
        # signed 400-digit one is still no time: it would overflow the float it is compared in).
        if not re.fullmatch(r"[0-9]{1,12}", timestamp):
            raise BadNotification("Wechatpay-Timestamp is not a Unix time.")
        # An old one is a replay of a captured notification.
        age = time.time() - int(timestamp)
        if abs(age) > self.settings.wechatpay_notify_max_age_s:
            raise NotificationStale(f"The notification is {int(age)} s old; at most "
                                    f"{self.settings.wechatpay_notify_max_age_s} s is accepted.")


# ---- what a notification may contain ------------------------------------------------------------
# Strict types (a number is not a string, 1.0 and true are not amounts), lengths no longer than the
# columns the values land in, and identifiers in ASCII, so nothing PostgreSQL would refuse (or a
# lookup would misread, such as the digits of "LL٠١٢") gets past the notification's door.

MAX_FEN = 2**63 - 1  # the money columns are 64-bit
_ASCII_ID = r"^[0-9A-Za-z_\-]+$"
_STRICT = ConfigDict(strict=True, extra="ignore")


class _Encrypted(BaseModel):
    model_config = _STRICT
    algorithm: Literal["AEAD_AES_256_GCM"]
    ciphertext: str = Field(min_length=1, max_length=65536, pattern=r"^[A-Za-z0-9+/=]+$")
    nonce: str = Field(min_length=1, max_length=64)
    associated_data: str | None = Field(default=None, max_length=256)
    original_type: str | None = Field(default=None, max_length=64)


class Envelope(BaseModel):
    model_config = _STRICT
    id: str = Field(min_length=1, max_length=64)
    create_time: str | None = Field(default=None, max_length=64)
    event_type: str = Field(max_length=64, pattern=r"^[A-Z][A-Z_.]*$")
    resource_type: Literal["encrypt-resource"]
    summary: str | None = Field(default=None, max_length=1024)
    resource: _Encrypted


class _Payer(BaseModel):
    model_config = _STRICT
    openid: str | None = Field(default=None, max_length=128, pattern=_ASCII_ID)


class _TransactionAmount(BaseModel):
    model_config = _STRICT
    total: int = Field(ge=1, le=MAX_FEN)
    currency: Literal["CNY"]
    payer_total: int | None = Field(default=None, ge=0, le=MAX_FEN)
    payer_currency: Literal["CNY"] | None = None


class TransactionResource(BaseModel):
    model_config = _STRICT
    mchid: str = Field(min_length=1, max_length=32, pattern=_ASCII_ID)
    appid: str = Field(min_length=1, max_length=32, pattern=_ASCII_ID)
    out_trade_no: str = Field(pattern=OUT_TRADE_NO_PATTERN)  # we issued it: LL (order) or LR (recharge) + 12 digits
    transaction_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=_ASCII_ID)
    trade_type: str | None = Field(default=None, max_length=16, pattern=r"^[A-Z_]+$")
    trade_state: str = Field(min_length=1, max_length=32, pattern=r"^[A-Z_]+$")
    success_time: AwareDatetime | None = None  # RFC 3339 with its offset; a naive time is refused
    amount: _TransactionAmount | None = None
    payer: _Payer | None = None

    @model_validator(mode="after")
    def _success_is_complete(self) -> "TransactionResource":
        if self.trade_state == "SUCCESS" and (self.transaction_id is None or self.success_time is None
                                              or self.amount is None):
            raise ValueError("a successful payment names transaction_id, success_time and amount")
        return self


class _RefundAmount(BaseModel):
    model_config = _STRICT
    total: int = Field(ge=1, le=MAX_FEN)
    refund: int = Field(ge=1, le=MAX_FEN)
    payer_total: int | None = Field(default=None, ge=0, le=MAX_FEN)
    payer_refund: int | None = Field(default=None, ge=0, le=MAX_FEN)


class RefundResource(BaseModel):
    model_config = _STRICT
    mchid: str = Field(min_length=1, max_length=32, pattern=_ASCII_ID)
    out_trade_no: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_\-|*]+$")
    transaction_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=_ASCII_ID)
    out_refund_no: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_\-|*@]+$")
    refund_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=_ASCII_ID)
    refund_status: Literal["SUCCESS", "CLOSED", "ABNORMAL", "PROCESSING"]
    success_time: AwareDatetime | None = None
    amount: _RefundAmount | None = None

    @model_validator(mode="after")
    def _success_has_a_time(self) -> "RefundResource":
        if self.refund_status == "SUCCESS" and self.success_time is None:
            raise ValueError("a successful refund names its success_time")
        return self


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], text: str, what: str) -> M:
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as e:
        errors = [{"loc": list(err["loc"]), "msg": err["msg"]}
                  for err in e.errors(include_url=False, include_context=False, include_input=False)]
        raise BadNotification(f"The {what} does not match WeChat Pay's schema.", errors=errors) from None
