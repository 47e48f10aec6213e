"""Payment providers. Each turns an order into client payment parameters, turns a provider
callback into a verified PaymentEvent, and executes refunds; the money logic is shared."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from app.config import Settings
from app.http import MAX_ID


@dataclass(frozen=True)
class PaymentEvent:
    """A verified "this transaction succeeded" fact from a provider."""

    out_trade_no: str
    transaction_id: str
    amount: int  # fen, as the provider reports it
    paid_at: datetime
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundEvent:
    """A verified "this refund finished" fact from a provider (succeeded, or closed/abnormal)."""

    out_refund_no: str
    succeeded: bool
    status: str
    at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    """A provider's answer about one refund (to a refund request, or to a query)."""

    # succeeded | processing (accepted, the end comes later) | failed (refused or closed for good)
    # | retry (no answer worth keeping: unreachable, busy; ask again) | not_found (query only)
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "processing")


class PaymentProvider(Protocol):
    name: str

    def prepay(self, *, out_trade_no: str, amount: int, description: str, payer_openid: str,
               expires_at: datetime) -> dict[str, Any]:
        """Parameters the mini-program passes to wx.requestPayment (or the sandbox's own)."""

    def refund(self, *, out_trade_no: str, transaction_id: str | None, out_refund_no: str, amount: int,
               total: int, reason: str) -> RefundResult:
        """Ask for `amount` of the payment `total` back; out_refund_no makes asking again safe."""

    def query_refund(self, *, out_refund_no: str) -> RefundResult:
        """Where a refund the provider accepted has got to."""


# WeChat Pay wants 6..32 characters of [A-Za-z0-9_-*]; ours are derivable from the order id
# (LL + 12 digits) or, for a wallet recharge, from the recharge's id (LR + 12 digits).
OUT_TRADE_NO_PATTERN = r"^L[LR][0-9]{12}$"


def out_trade_no(order_id: int) -> str:
    return f"LL{order_id:012d}"


def recharge_trade_no(recharge_id: int) -> str:
    return f"LR{recharge_id:012d}"


def _id_after(prefix: str, value: str) -> int | None:
    # ASCII digits only (str.isdigit() and int() also take "٠١٢"), and no id a row cannot have.
    if re.fullmatch(OUT_TRADE_NO_PATTERN, value) and value.startswith(prefix):
        row_id = int(value[2:])
        if 1 <= row_id <= MAX_ID:
            return row_id
    return None


def order_id_from_trade_no(value: str) -> int | None:
    return _id_after("LL", value)


def recharge_id_from_trade_no(value: str) -> int | None:
    return _id_after("LR", value)


def trade_no_of(row: Any) -> str:
    """The out_trade_no of a payment or refund row: its order's, or its wallet recharge's."""
    return out_trade_no(row.order_id) if row.order_id is not None else recharge_trade_no(row.recharge_id)


class SandboxProvider:
    """Development provider: paying succeeds at once through the same confirmation path."""

    name = "sandbox"

    def __init__(self, settings: Settings):
        self.settings = settings

    def prepay(self, *, out_trade_no: str, amount: int, description: str, payer_openid: str,
               expires_at: datetime) -> dict[str, Any]:
        return {"out_trade_no": out_trade_no, "amount": amount, "sandbox": True}

    def refund(self, *, out_trade_no: str, transaction_id: str | None, out_refund_no: str, amount: int,
               total: int, reason: str) -> RefundResult:
        return RefundResult(status="succeeded")

    def query_refund(self, *, out_refund_no: str) -> RefundResult:
        return RefundResult(status="succeeded")
