from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.http import IsoDate


class ReconciliationPath(BaseModel):
    date: IsoDate = Field(description="The bill date, YYYY-MM-DD (WeChat Pay's day, Beijing time)")


class Discrepancy(BaseModel):
    kind: Literal["missing_ours", "missing_wechat", "amount_mismatch"] = Field(
        description="missing_ours: in WeChat Pay's bill, not in our books; missing_wechat: ours, not in the bill; "
                    "amount_mismatch: both, different amounts (for a book check: the balance is not what the "
                    "entries sum to)")
    subject: str = Field(description="payment, refund or transfer; or the book checked: points_ledger, ...")
    ref: str = Field(description="out_trade_no of a payment, out_refund_no of a refund, out_bill_no of a transfer, "
                                 "the account of a book (user:12)")
    ours: int | None = Field(description="Our amount in fen (a book's balance), null when we have none")
    wechat: int | None = Field(description="WeChat Pay's amount in fen, null when the bill has none")
    expected: int | None = Field(default=None, description="A book check: what the account's entries sum to")
    detail: str = ""


class RunInfo(BaseModel):
    state: Literal["pending", "running", "waiting", "done", "failed"] = Field(
        description="waiting: WeChat Pay's bill was not ready, another attempt comes at next_attempt_at; "
                    "failed: out of attempts (error says why); a new run may be asked for with `linli reconcile`")
    attempts: int
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None


class ReconciliationPublic(BaseModel):
    date: IsoDate
    status: Literal["balanced", "discrepancies", "not_run"] = Field(
        description="Of the last run that finished; not_run until one has")
    run: RunInfo | None = Field(description="The date's last run, null if none was ever started")
    totals: dict[str, dict[str, dict[str, int] | int]] = Field(
        description="ours and wechat: {payments, refunds, transfers: {count, amount}}; wechat also fund_in and "
                    "fund_out, the fund-flow bill's money in and out (fen)")
    discrepancies: list[Discrepancy]
