"""WeChat Pay API v3 (JSAPI / mini-program) through wechatpayv3, in "WeChat Pay public key" mode:
responses and notifications are verified with the public key configured here, so nothing is
downloaded at start-up and no platform certificate is ever fetched."""
from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt, rsa_verify

from app.config import Settings
from app.errors import BadRequest, DomainError, ServiceUnavailable, Unauthorized
from app.payment.providers import PaymentEvent, RefundEvent, RefundResult

log = logging.getLogger(__name__)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"


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


def _read(path: str, what: str) -> str:
    if not path:
        raise RuntimeError(f"LINLI_WECHATPAY_{what} must be set when LINLI_PAYMENT_PROVIDER=wechatpay")
    return Path(path).read_text(encoding="utf-8")


class WechatPayProvider:
    name = "wechatpay"

    def __init__(self, settings: Settings):
        self.settings = settings
        missing = [n for n in ("mchid", "cert_serial_no", "apiv3_key", "public_key_id")
                   if not getattr(settings, f"wechatpay_{n}")]
        if missing:
            raise RuntimeError("WeChat Pay is selected but these settings are empty: "
                               + ", ".join(f"LINLI_WECHATPAY_{n.upper()}" for n in missing))
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
            public_key=_read(settings.wechatpay_public_key_path, "PUBLIC_KEY_PATH"),
            public_key_id=settings.wechatpay_public_key_id,
        )
        # wechatpayv3 hard-codes the gateway; tests and proxies point it elsewhere.
        self._wx._core._gate_way = settings.wechatpay_api_base.rstrip("/")
        self._public_key = self._wx._core._public_key

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

    def refund(self, *, out_trade_no: str, transaction_id: str | None, out_refund_no: str, amount: int,
               total: int, reason: str) -> RefundResult:
        try:
            code, body = self._call(
                "refund", self._wx.refund, out_refund_no=out_refund_no,
                amount={"refund": amount, "total": total, "currency": "CNY"},
                transaction_id=transaction_id, out_trade_no=None if transaction_id else out_trade_no,
                reason=reason[:80] or None)
        except PaymentProviderUnavailable as e:
            return RefundResult(ok=False, status="failed", detail=e.detail or "unavailable")
        status = body.get("status")
        if code < 300 and status == "SUCCESS":
            return RefundResult(ok=True, status="succeeded", detail=body.get("refund_id", ""))
        if code < 300 and status == "PROCESSING":
            return RefundResult(ok=True, status="processing", detail=body.get("refund_id", ""))
        return RefundResult(ok=False, status="failed",
                            detail=f"HTTP {code} {body.get('code') or status or ''}: {body.get('message', '')}".strip())

    # ---- notifications -------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: str) -> PaymentEvent | RefundEvent | None:
        """Verify, check the age of, and decrypt a payment notification.

        Returns the event for a successful payment or a finished refund, None for anything else WeChat tells us
        (acknowledged, no effect); raises for notifications that must not be trusted.
        """
        self._verify(headers, body)
        try:
            envelope = json.loads(body)
            resource = envelope["resource"]
            if envelope.get("resource_type", "encrypt-resource") != "encrypt-resource" or \
                    resource.get("algorithm") != "AEAD_AES_256_GCM":
                raise ValueError("unsupported resource")
            plain = aes_decrypt(nonce=resource["nonce"], ciphertext=resource["ciphertext"],
                                associated_data=resource.get("associated_data") or "",
                                apiv3_key=self.settings.wechatpay_apiv3_key)
        except Exception as e:  # noqa: BLE001 - malformed JSON, base64, nonce size, ...
            raise BadNotification(f"The notification could not be read: {type(e).__name__}.") from e
        if plain is None:
            raise BadNotification("The notification resource could not be decrypted with the APIv3 key.")
        try:
            data = json.loads(plain)
            if not isinstance(data, dict):
                raise ValueError("resource is not an object")
        except ValueError as e:
            raise BadNotification("The decrypted resource is not a JSON object.") from e

        event_type = envelope.get("event_type", "TRANSACTION.SUCCESS")
        if event_type.startswith("REFUND.") and data.get("out_refund_no"):
            if data.get("mchid") not in (None, self.settings.wechatpay_mchid):
                raise BadNotification("The notification is for another merchant.")
            status = str(data.get("refund_status") or event_type.split(".", 1)[1])
            at = data.get("success_time")
            try:
                at = datetime.fromisoformat(at) if at else None
            except ValueError:
                at = None
            return RefundEvent(out_refund_no=str(data["out_refund_no"]), succeeded=status == "SUCCESS",
                               status=status, at=at, raw=data)
        if event_type != "TRANSACTION.SUCCESS" or data.get("trade_state") != "SUCCESS":
            log.info("wechatpay notification %s (%s, %s) acknowledged without effect", envelope.get("id"),
                     event_type, data.get("trade_state") or data.get("refund_status"))
            return None
        if data.get("mchid") not in (None, self.settings.wechatpay_mchid):
            raise BadNotification("The notification is for another merchant.")
        try:
            amount = data["amount"]["total"]
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise TypeError("amount.total is not an integer")
            paid_at = datetime.fromisoformat(data["success_time"])
            if paid_at.tzinfo is None:
                raise ValueError("success_time has no offset")
            return PaymentEvent(out_trade_no=str(data["out_trade_no"]), transaction_id=str(data["transaction_id"]),
                                amount=amount, paid_at=paid_at, raw=data)
        except (KeyError, TypeError, ValueError) as e:
            raise BadNotification(f"The payment resource is incomplete: {e}.") from e

    def _verify(self, headers: Mapping[str, str], body: str) -> None:
        signature = headers.get("Wechatpay-Signature")
        timestamp = headers.get("Wechatpay-Timestamp")
        nonce = headers.get("Wechatpay-Nonce")
        serial = headers.get("Wechatpay-Serial")
        if not (signature and timestamp and nonce and serial):
            raise SignatureInvalid("Wechatpay-Signature, -Timestamp, -Nonce and -Serial are required.")
        if headers.get("Wechatpay-Signature-Type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
            raise SignatureInvalid("Unsupported Wechatpay-Signature-Type.")
        # Only the configured public key is trusted: wechatpayv3's own check would go and fetch
        # platform certificates for any other serial an anonymous caller sends.
        if serial != self.settings.wechatpay_public_key_id:
            raise SignatureInvalid("Wechatpay-Serial is not the configured WeChat Pay public key.")
        if not rsa_verify(timestamp, nonce, body, signature, self._public_key):
            raise SignatureInvalid("The notification signature does not verify.")
        # The timestamp is part of what was signed, so it is trustworthy from here on; an old
        # one is a replay of a captured notification.
        try:
            age = time.time() - int(timestamp)
        except ValueError:
            raise SignatureInvalid("Wechatpay-Timestamp is not a Unix time.") from None
        if abs(age) > self.settings.wechatpay_notify_max_age_s:
            raise NotificationStale(f"The notification is {int(age)} s old; at most "
                                    f"{self.settings.wechatpay_notify_max_age_s} s is accepted.")
