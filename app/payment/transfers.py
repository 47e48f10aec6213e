"""Money out to a user's WeChat balance: WeChat Pay's merchant transfer (商家转账, the
transfer-bills API as it is since 2025-01-15), or the sandbox's, which completes at once.

A gateway answers with a TransferResult; the caller keeps the bill's state. `out_bill_no` is the
idempotency key WeChat Pay keeps, so asking again with the same number never makes a second bill;
still, an answer that never came is looked up before the request is ever repeated."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from app.http import MAX_ID

# WeChat Pay's bill states (商家转账单据状态).
FINAL_STATES = ("SUCCESS", "FAIL", "CANCELLED")
IN_FLIGHT_STATES = ("ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM", "TRANSFERING", "CANCELING")

# Letters and digits only, at most 32 (WeChat's rule); ours derive from the withdrawal id.
OUT_BILL_NO_PATTERN = r"^LW[0-9]{12}$"


def out_bill_no(withdrawal_id: int) -> str:
    return f"LW{withdrawal_id:012d}"


def withdrawal_id_from_bill_no(value: str) -> int | None:
    if re.fullmatch(OUT_BILL_NO_PATTERN, value):
        withdrawal_id = int(value[2:])
        if 1 <= withdrawal_id <= MAX_ID:
            return withdrawal_id
    return None


@dataclass(frozen=True)
class TransferResult:
    """What the provider said about one bill.

    outcome: `bill` (it exists: `state` says where it is), `not_found` (a look-up: no such bill,
    so none was ever made), `rejected` (refused for good; no bill), `unknown` (no answer worth
    keeping: a timeout, a 5xx, a rate limit; the bill may or may not exist).
    """

    outcome: str
    state: str | None = None
    transfer_bill_no: str | None = None
    package_info: str | None = None
    fail_reason: str | None = None
    detail: str = ""

    @property
    def final(self) -> bool:
        return self.outcome == "bill" and self.state in FINAL_STATES


@dataclass(frozen=True)
class TransferEvent:
    """A verified transfer notification (MCHTRANSFER.BILL.FINISHED)."""

    out_bill_no: str
    state: str
    transfer_bill_no: str | None = None
    fail_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TransferRequest:
    out_bill_no: str
    openid: str
    amount: int  # fen
    remark: str  # shown to the payee, at most 32 characters
    user_name: str | None  # the payee's real name; WeChat Pay needs it from 2,000 yuan
    report_infos: list[dict[str, str]]


class TransferGateway(Protocol):
    name: str

    def transfer(self, req: TransferRequest) -> TransferResult:
        """POST /v3/fund-app/mch-transfer/transfer-bills."""

    def query(self, out_bill_no: str) -> TransferResult:
        """GET .../transfer-bills/out-bill-no/{out_bill_no}."""

    def cancel(self, out_bill_no: str) -> TransferResult:
        """POST .../transfer-bills/out-bill-no/{out_bill_no}/cancel."""

    def parse_notification(self, headers: Mapping[str, str], body: str) -> TransferEvent | None:
        """Verify and decrypt a transfer notification (None: acknowledged, no effect)."""


class SandboxTransfers:
    """Development: every transfer succeeds at once, and a look-up says so."""

    name = "sandbox"

    def transfer(self, req: TransferRequest) -> TransferResult:
        return TransferResult(outcome="bill", state="SUCCESS", transfer_bill_no=f"sandbox-{req.out_bill_no}")

    def query(self, out_bill_no: str) -> TransferResult:
        return TransferResult(outcome="bill", state="SUCCESS", transfer_bill_no=f"sandbox-{out_bill_no}")

    def cancel(self, out_bill_no: str) -> TransferResult:
        return TransferResult(outcome="bill", state="SUCCESS", transfer_bill_no=f"sandbox-{out_bill_no}")

    def parse_notification(self, headers: Mapping[str, str], body: str) -> TransferEvent | None:
        return None
