"""A local WeChat Pay v3 server speaking the real protocol, for tests.

It checks every request's `Authorization: WECHATPAY2-SHA256-RSA2048 ...` signature with the
merchant's public key, answers JSAPI prepay and domestic refunds, and signs its answers with the
"platform" key (public key mode: `Wechatpay-Serial` is the public key id), so that wechatpayv3's
own response verification runs for real. It also builds signed, AES-256-GCM encrypted payment
notifications, as WeChat Pay would POST them to the merchant's notify_url.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.fakes.wechatpay_bills import FakeBills

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
CST = timezone(timedelta(hours=8))


def _sign(private_key, message: str) -> str:
    return base64.b64encode(private_key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())).decode()


def verify_signature(public_key, message: str, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class KeyPair:
    private_key: Any

    @classmethod
    def generate(cls) -> "KeyPair":
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @property
    def public_key(self):
        return self.private_key.public_key()

    def private_pem(self) -> str:
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode()

    def public_pem(self) -> str:
        return self.public_key.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class Received:
    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeWechatPay:
    """One merchant (mchid, merchant key pair and serial, APIv3 key) and one platform key pair."""

    key_dir: Path
    mchid: str = "1900000109"
    appid: str = "wx-test-appid"
    merchant_serial_no: str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    public_key_id: str = "PUB_KEY_ID_0119000010920250101000000000000000"
    apiv3_key: str = field(default_factory=lambda: secrets.token_hex(16))  # 32 characters
    merchant: KeyPair = field(default_factory=KeyPair.generate)
    platform: KeyPair = field(default_factory=KeyPair.generate)
    refund_status: str = "PROCESSING"  # what a refund request answers: SUCCESS | PROCESSING | ...
    fail_with: int | None = None  # answer every API call with this HTTP status (outage, rejection)
    # Key rotation: answers signed with this key and serial instead (requests may name either serial).
    answer_key: KeyPair | None = None
    answer_serial: str | None = None

    def __post_init__(self):
        self.key_dir.mkdir(parents=True, exist_ok=True)
        self.private_key_path = self.key_dir / "apiclient_key.pem"
        self.private_key_path.write_text(self.merchant.private_pem())
        self.public_key_path = self.key_dir / "pub_key.pem"
        self.public_key_path.write_text(self.platform.public_pem())
        self.received: list[Received] = []
        self.rejected: list[tuple[str, str]] = []  # (path, reason) of requests refused for auth
        # The refunds this merchant has asked for, by out_refund_no, as WeChat Pay keeps them:
        # a refund query answers from here, and a test moves them on (set_refund_status).
        self.refunds: dict[str, dict[str, Any]] = {}
        # Cleared, refund requests wait at the door until it is set (the job "waiting on WeChat").
        self.refund_gate = threading.Event()
        self.refund_gate.set()
        self.refund_waiting = threading.Event()
        # More APIs, each a callable (request, parsed body) -> Response, or None when not its path
        # (tests/fakes/wechatpay_transfers.py adds the merchant transfer this way).
        self.handlers: list = []
        self._lock = threading.Lock()
        # The daily bills, built from what this fake processed (tests/fakes/wechatpay_bills.py).
        self.bills = FakeBills(self)
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.rejected.clear()
            self.refunds.clear()
            self.bills.reset()
        self.refund_status = "PROCESSING"
        self.fail_with = None
        self.answer_key = self.answer_serial = None
        self.refund_gate.set()
        self.refund_waiting.clear()

    def set_refund_status(self, out_refund_no: str, status: str) -> None:
        """WeChat Pay finishes (SUCCESS), closes (CLOSED) or gives up on (ABNORMAL) a refund."""
        with self._lock:
            refund = self.refunds[out_refund_no]
            refund["status"] = status
            if status == "SUCCESS":
                refund["success_time"] = datetime.now(CST).isoformat(timespec="seconds")

    def forget_refund(self, out_refund_no: str) -> None:
        with self._lock:
            self.refunds.pop(out_refund_no, None)

    def settings(self) -> dict[str, Any]:
        """LINLI_* settings that point the app at this server and these keys."""
        return dict(payment_provider="wechatpay", wechatpay_api_base=self.base_url, wechatpay_mchid=self.mchid,
                    wechatpay_cert_serial_no=self.merchant_serial_no,
                    wechatpay_private_key_path=str(self.private_key_path), wechatpay_apiv3_key=self.apiv3_key,
                    wechatpay_public_key_path=str(self.public_key_path), wechatpay_public_key_id=self.public_key_id,
                    wechatpay_notify_url="https://linli.example/api/v1/payments/wechatpay/notify",
                    wechat_appid=self.appid)

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    # ---- the server ----------------------------------------------------------------------

    _AUTH = re.compile(r'(\w+)="([^"]*)"')

    def _check_authorization(self, request: Request, body: str) -> str | None:
        """None if the merchant's request signature verifies, else why not."""
        header = request.headers.get("Authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme != SIGNATURE_TYPE:
            return "authorization scheme"
        fields = dict(self._AUTH.findall(rest))
        if fields.get("mchid") != self.mchid or fields.get("serial_no") != self.merchant_serial_no:
            return "mchid or serial_no"
        if abs(time.time() - int(fields.get("timestamp", "0"))) > 300:
            return "timestamp"
        url = request.full_path if request.query_string else request.path
        message = f"{request.method}\n{url}\n{fields['timestamp']}\n{fields.get('nonce_str', '')}\n{body}\n"
        if not verify_signature(self.merchant.public_key, message, fields.get("signature", "")):
            return "signature"
        if request.headers.get("Wechatpay-Serial") not in (None, self.public_key_id, self.answer_serial):
            return "Wechatpay-Serial"
        return None

    def _signed(self, status: int, payload: dict[str, Any]) -> Response:
        body = json.dumps(payload, ensure_ascii=False)
        return Response(body, status=status, content_type="application/json; charset=utf-8",
                        headers=self.signature_headers(body, key=self.answer_key, serial=self.answer_serial))

    def signature_headers(self, body: str, *, timestamp: int | None = None, key: KeyPair | None = None,
                          serial: str | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = uuid.uuid4().hex.upper()
        return {"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": _sign((key or self.platform).private_key, f"{ts}\n{nonce}\n{body}\n"),
                "Wechatpay-Serial": serial or self.public_key_id, "Wechatpay-Signature-Type": SIGNATURE_TYPE,
                "Request-ID": uuid.uuid4().hex}

    @Request.application
    def _wsgi(self, request: Request) -> Response:
        body = request.get_data(as_text=True)
        reason = self._check_authorization(request, body)
        if reason is not None:
            with self._lock:
                self.rejected.append((request.path, reason))
            # WeChat Pay does not sign a failed authentication; the caller sees a plain 401.
            return Response(json.dumps({"code": "SIGN_ERROR", "message": f"bad {reason}"}), status=401,
                            content_type="application/json")
        data = json.loads(body) if body else {}
        with self._lock:
            self.received.append(Received(request.method, request.path, data, dict(request.headers)))
        if self.fail_with is not None:
            code = "SYSTEM_ERROR" if self.fail_with >= 500 else "PARAM_ERROR"
            return self._signed(self.fail_with, {"code": code, "message": "fake failure"})
        if request.method == "POST" and request.path == "/v3/pay/transactions/jsapi":
            return self._jsapi(data)
        if request.method == "POST" and request.path == "/v3/refund/domestic/refunds":
            self.refund_waiting.set()
            self.refund_gate.wait(30)
            return self._refund(data)
        if request.method == "GET" and request.path.startswith("/v3/refund/domestic/refunds/"):
            return self._query_refund(request.path.rsplit("/", 1)[1])
        bill_answer = self.bills.answer(request)
        if bill_answer is not None:
            return bill_answer
        for handler in self.handlers:
            response = handler(request, data)
            if response is not None:
                return response
        return self._signed(404, {"code": "NOT_FOUND", "message": "no such API in the fake"})

    def _jsapi(self, data: dict[str, Any]) -> Response:
        required = ("appid", "mchid", "description", "out_trade_no", "notify_url", "amount", "payer")
        missing = [k for k in required if not data.get(k)]
        if missing or data["mchid"] != self.mchid or data["appid"] != self.appid \
                or not isinstance(data["amount"].get("total"), int) or not data["payer"].get("openid"):
            return self._signed(400, {"code": "PARAM_ERROR", "message": f"bad or missing: {missing or 'values'}"})
        try:
            if "time_expire" in data and datetime.fromisoformat(data["time_expire"]).tzinfo is None:
                raise ValueError("no offset")
        except ValueError:
            return self._signed(400, {"code": "PARAM_ERROR", "message": "time_expire is not RFC 3339"})
        return self._signed(200, {"prepay_id": f"wx{uuid.uuid4().hex[:28]}"})

    def _refund(self, data: dict[str, Any]) -> Response:
        amount = data.get("amount") or {}
        if not data.get("out_refund_no") or not (data.get("transaction_id") or data.get("out_trade_no")) \
                or not isinstance(amount.get("refund"), int) or amount.get("currency") != "CNY":
            return self._signed(400, {"code": "PARAM_ERROR", "message": "bad refund request"})
        if not isinstance(amount.get("total"), int) or not 1 <= amount["refund"] <= amount["total"]:
            return self._signed(400, {"code": "INVALID_REQUEST", "message": "refund exceeds the payment"})
        with self._lock:
            # out_refund_no is the idempotency key: asking again answers the refund already made.
            refund = self.refunds.get(data["out_refund_no"])
            if refund is None:
                now = datetime.now(CST).isoformat(timespec="seconds")
                refund = self.refunds[data["out_refund_no"]] = {
                    "refund_id": f"50000{uuid.uuid4().int % 10**24:024d}", "out_refund_no": data["out_refund_no"],
                    "transaction_id": data.get("transaction_id", ""), "out_trade_no": data.get("out_trade_no", ""),
                    "channel": "ORIGINAL", "user_received_account": "支付用户零钱", "create_time": now,
                    "success_time": now if self.refund_status == "SUCCESS" else None, "status": self.refund_status,
                    "funds_account": "AVAILABLE",
                    "amount": {"total": amount["total"], "refund": amount["refund"], "payer_total": amount["total"],
                               "payer_refund": amount["refund"], "settlement_refund": amount["refund"],
                               "settlement_total": amount["total"], "discount_refund": 0, "currency": "CNY"}}
            return self._signed(200, dict(refund))

    def _query_refund(self, out_refund_no: str) -> Response:
        with self._lock:
            refund = self.refunds.get(out_refund_no)
            if refund is None:
                return self._signed(404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"})
            return self._signed(200, dict(refund))

    # ---- notifications -------------------------------------------------------------------

    def encrypt(self, plaintext: str, *, associated_data: str = "transaction",
                apiv3_key: str | None = None) -> dict[str, str]:
        nonce = secrets.token_hex(6)  # 12 characters, as WeChat Pay uses
        key = (apiv3_key or self.apiv3_key).encode()
        ciphertext = AESGCM(key).encrypt(nonce.encode(), plaintext.encode("utf-8"), associated_data.encode())
        return {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(), "associated_data": associated_data,
                "nonce": nonce}

    def refund_notification(self, *, out_refund_no: str, out_trade_no: str, amount: int,
                            refund_status: str = "SUCCESS", timestamp: int | None = None,
                            success_time: str | None = None, total: int | None = None) -> tuple[dict[str, str], str]:
        """(headers, body) of a refund result notification (REFUND.SUCCESS / ABNORMAL / CLOSED)."""
        resource = {
            "mchid": self.mchid, "out_trade_no": out_trade_no, "transaction_id": "4200" + "0" * 24,
            "out_refund_no": out_refund_no, "refund_id": f"5030{uuid.uuid4().int % 10**24:024d}",
            "refund_status": refund_status, "user_received_account": "支付用户零钱",
            "amount": {"total": total or amount, "refund": amount, "payer_total": total or amount,
                       "payer_refund": amount},
        }
        if refund_status == "SUCCESS":
            resource["success_time"] = success_time or datetime.now(CST).isoformat(timespec="seconds")
        envelope = {
            "id": str(uuid.uuid4()), "create_time": datetime.now(CST).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource", "event_type": f"REFUND.{refund_status}", "summary": "退款结果",
            "resource": self.encrypt(json.dumps(resource, ensure_ascii=False)),
        }
        body = json.dumps(envelope, ensure_ascii=False)
        headers = self.signature_headers(body, timestamp=timestamp)
        headers["Content-Type"] = "application/json"
        return headers, body

    def signed_notification(self, resource: dict[str, Any] | str, *, event_type: Any = "TRANSACTION.SUCCESS",
                            timestamp: Any = None, key: KeyPair | None = None, serial: str | None = None,
                            envelope: dict[str, Any] | None = None) -> tuple[dict[str, str], str]:
        """(headers, body) of any notification, correctly signed and encrypted, whatever it says:
        what a hostile test needs to reach past the signature check."""
        plain = resource if isinstance(resource, str) else json.dumps(resource, ensure_ascii=False)
        fields = {"id": str(uuid.uuid4()), "create_time": datetime.now(CST).isoformat(timespec="seconds"),
                  "resource_type": "encrypt-resource", "event_type": event_type, "summary": "通知",
                  "resource": self.encrypt(plain)}
        fields.update(envelope or {})
        body = json.dumps(fields, ensure_ascii=False)
        headers = self.signature_headers(body, timestamp=timestamp, key=key, serial=serial)
        headers["Content-Type"] = "application/json"
        return headers, body

    def payment_resource(self, *, out_trade_no: str, amount: int, **changes: Any) -> dict[str, Any]:
        """A successful payment's decrypted resource, as WeChat Pay sends it, with changes."""
        resource = {
            "mchid": self.mchid, "appid": self.appid, "out_trade_no": out_trade_no,
            "transaction_id": f"4200{uuid.uuid4().int % 10**24:024d}", "trade_type": "JSAPI",
            "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "",
            "success_time": datetime.now(CST).isoformat(timespec="seconds"), "payer": {"openid": "buyer-openid"},
            "amount": {"total": amount, "payer_total": amount, "currency": "CNY", "payer_currency": "CNY"},
        }
        resource.update(changes)
        return resource

    def notification(self, *, out_trade_no: str, amount: int, transaction_id: str | None = None,
                     trade_state: str = "SUCCESS", timestamp: int | None = None, openid: str = "buyer-openid",
                     success_time: datetime | None = None, apiv3_key: str | None = None,
                     signing_key: KeyPair | None = None, serial: str | None = None) -> tuple[dict[str, str], str]:
        """(headers, body) of a payment notification as WeChat Pay sends it."""
        success = trade_state == "SUCCESS"
        resource = {
            "mchid": self.mchid, "appid": self.appid, "out_trade_no": out_trade_no,
            "transaction_id": transaction_id or f"4200{uuid.uuid4().int % 10**24:024d}",
            "trade_type": "JSAPI", "trade_state": trade_state,
            "trade_state_desc": "支付成功" if success else "订单已关闭", "bank_type": "OTHERS", "attach": "",
            "payer": {"openid": openid},
            "amount": {"total": amount, "payer_total": amount, "currency": "CNY", "payer_currency": "CNY"},
        }
        if success:
            resource["success_time"] = (success_time or datetime.now(CST)).isoformat(timespec="seconds")
            self.bills.record_payment(resource)  # WeChat Pay has the money, whether or not we hear of it
        envelope = {
            "id": str(uuid.uuid4()), "create_time": datetime.now(CST).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS" if success else f"TRANSACTION.{trade_state}",
            "summary": "支付成功" if success else "交易状态变更",
            "resource": self.encrypt(json.dumps(resource, ensure_ascii=False), apiv3_key=apiv3_key),
        }
        body = json.dumps(envelope, ensure_ascii=False)
        headers = self.signature_headers(body, timestamp=timestamp, key=signing_key, serial=serial)
        headers["Content-Type"] = "application/json"
        return headers, body
