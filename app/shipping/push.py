"""WeChat's message pushes about shipping (trade_manage_remind_shipping, trade_manage_order_settlement,
trade_manage_remind_access_api): the signature checked as WeChat signs them, safe mode's ciphertext
decrypted, and each push applied once.

https://developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html
- signature = sha1 of the Token, timestamp and nonce sorted and joined (plain mode);
- safe mode adds msg_signature = sha1 of Token, timestamp, nonce and the Encrypt field sorted and
  joined, and Encrypt is AES-256-CBC under base64(EncodingAESKey + "="), IV its first 16 bytes,
  PKCS#7 to 32-byte blocks, over 16 random bytes + 4-byte big-endian length + message + appid.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import struct
from datetime import datetime, timezone
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlmodel import Session

from app.db import dialect_insert, utcnow
from app.shipping import service
from app.shipping.errors import BadPush, PushSignatureInvalid
from app.shipping.models import ShippingPush, SyncState

log = logging.getLogger(__name__)
S = SyncState
P = ShippingPush.__table__

REMIND_SHIPPING = "trade_manage_remind_shipping"
ORDER_SETTLEMENT = "trade_manage_order_settlement"
REMIND_ACCESS_API = "trade_manage_remind_access_api"
EVENTS = (REMIND_SHIPPING, ORDER_SETTLEMENT, REMIND_ACCESS_API)


def signature_of(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def check_signature(token: str, signature: str | None, *parts: str | None) -> None:
    if not signature or any(p is None for p in parts):
        raise PushSignatureInvalid("The push carries no signature.")
    if not hmac.compare_digest(signature_of(token, *parts).encode(), signature.encode()):  # type: ignore[arg-type]
        raise PushSignatureInvalid("The push's signature is not WeChat's for our Token.")


def _aes_key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


def decrypt(encoding_aes_key: str, encrypt: str, *, appid: str) -> str:
    """Safe mode's Encrypt field, decrypted and checked to be for our appid."""
    key = _aes_key(encoding_aes_key)
    try:
        raw = base64.b64decode(encrypt, validate=True)
        if not raw or len(raw) % 16:
            raise ValueError("ciphertext length")
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
            raise ValueError("padding")
        plain = plain[:-pad]
        (length,) = struct.unpack(">I", plain[16:20])
        message, tail = plain[20:20 + length], plain[20 + length:]
        text = message.decode()
    except (ValueError, struct.error, UnicodeDecodeError) as e:
        raise PushSignatureInvalid(f"The push's ciphertext could not be read ({type(e).__name__}).") from None
    if tail.decode(errors="replace") != appid:
        raise PushSignatureInvalid("The push is for another mini-program (appid).")
    return text


def encrypt(encoding_aes_key: str, message: str, *, appid: str, nonce16: bytes) -> str:
    """What WeChat does (used by the tests' fake, and kept next to decrypt so the two agree)."""
    key = _aes_key(encoding_aes_key)
    body = nonce16 + struct.pack(">I", len(message.encode())) + message.encode() + appid.encode()
    pad = 32 - len(body) % 32
    body += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()


def read_push(*, token: str, aes_key: str, appid: str, query: dict[str, str | None], body: bytes) -> dict[str, Any]:
    """The verified message of a POSTed push (JSON data format), or a refusal."""
    try:
        envelope = json.loads(body or b"null")
    except ValueError:
        raise BadPush("The push body is not JSON.") from None
    if not isinstance(envelope, dict):
        raise BadPush("The push body is not a JSON object.")
    ts, nonce = query.get("timestamp"), query.get("nonce")
    if aes_key:
        cipher = envelope.get("Encrypt")
        if query.get("encrypt_type") != "aes" or not isinstance(cipher, str):
            raise PushSignatureInvalid("Safe mode is configured: only encrypted pushes are taken.")
        check_signature(token, query.get("msg_signature"), ts, nonce, cipher)
        try:
            message = json.loads(decrypt(aes_key, cipher, appid=appid))
        except ValueError:
            raise BadPush("The decrypted push is not JSON.") from None
    else:
        check_signature(token, query.get("signature"), ts, nonce)
        message = envelope
    if not isinstance(message, dict):
        raise BadPush("The push message is not a JSON object.")
    return message


# ---- applying a push ------------------------------------------------------------------------------

def _int(message: dict, key: str) -> int:
    value = message.get(key)
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 12:
        return int(value)
    return 0


def _str(message: dict, key: str, max_len: int = 64) -> str:
    value = message.get(key)
    return value[:max_len] if isinstance(value, str) else ""


def _at(seconds: int) -> datetime | None:
    return datetime.fromtimestamp(seconds, timezone.utc) if 0 < seconds < 2**33 else None


def apply_push(session: Session, message: dict) -> str:
    """Record and apply one verified push; answers what it did. A push seen before (WeChat resends
    one it got no answer to) is recorded once and changes nothing the second time."""
    event = _str(message, "Event")
    if event not in EVENTS:
        return "ignored"
    txn = _str(message, "transaction_id")
    digest = hashlib.sha256(json.dumps(message, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    inserted = session.execute(dialect_insert(session, P).values(
        event=event, transaction_id=txn, create_time=_int(message, "CreateTime"), digest=digest,
        payload=message, received_at=utcnow()).on_conflict_do_nothing().returning(P.c.id)).scalar_one_or_none()
    if inserted is None:
        return "duplicate"
    if event == REMIND_ACCESS_API:
        log.warning("WeChat reminds us to use the shipping API: %s", _str(message, "msg", 200))
        return "noted"
    if not txn:
        return "no_transaction"
    if event == REMIND_SHIPPING:
        log.warning("WeChat reminds us to ship payment %s (paid %s)", txn, _int(message, "pay_time"))
        return service.reconcile_awaiting(session, transaction_id=txn,
                                          merchant_trade_no=_str(message, "merchant_trade_no"))
    return _settlement(session, txn, message)


def _settlement(session: Session, txn: str, message: dict) -> str:
    """trade_manage_order_settlement: sent when the shipment is complete (estimated_settlement_time)
    and again at settlement (confirm_receive_*, settlement_time)."""
    sync = service.sync_of_transaction(session, transaction_id=txn)
    if sync is None:
        log.warning("settlement push for payment %s, which we never reported", txn)
        return "unknown"
    outcome = "noted"
    estimated = _at(_int(message, "estimated_settlement_time"))
    if estimated is not None:
        session.execute(service.T.update().where(service.T.c.id == sync.id).values(estimated_settlement_at=estimated))
    # WeChat has the shipment, whatever we were still unsure of.
    if service.move(session, sync.id, S.uploaded, (S.pending, S.uploading, S.uncertain, S.failed),
                     uploaded_at=_at(_int(message, "shipped_time")) or utcnow(), error=None, errcode=None):
        outcome = "uploaded"
    received = _at(_int(message, "confirm_receive_time"))
    if received is not None and service.move(session, sync.id, S.confirmed, (S.uploaded,), confirmed_at=received):
        outcome = "confirmed"
    settled = _at(_int(message, "settlement_time"))
    # Conditional: a settlement applied twice settles once (its time is the first push's).
    if settled is not None and service.move(session, sync.id, S.settled, (S.uploaded, S.confirmed),
                                             settled_at=settled, confirmed_at=received or settled):
        outcome = "settled"
    return outcome
