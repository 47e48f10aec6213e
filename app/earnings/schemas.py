from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.http import Id, JsonBody, OptionalJsonBody, QueryModel, Text
from app.pagination import PageQuery

EntryKindName = Literal["commission", "commission_reversed", "pay_code_sale", "pay_code_refund", "withdrawal",
                        "withdrawal_returned"]
WithdrawalStatusName = Literal["reviewing", "approved", "awaiting_confirmation", "paid", "failed", "rejected"]
MONTH_PATTERN = r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$"  # 1970-01 .. 2999-12
# The statement answers JSON, CSV or PDF (?format=): the document says so.
_DOCUMENTS = {"openapi_extra": {"content": {
    "text/csv": {"schema": {"type": "string"}},
    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}


class EntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    amount: int = Field(description="Signed fen: what `available` changed by")
    kind: EntryKindName
    balance_after: int = Field(description="`available` after this entry")
    ref: str = Field(description="What the movement is for, e.g. commission:12, withdrawal:7")
    created_at: datetime


class EarningsPublic(BaseModel):
    available: int = Field(description="May be withdrawn, fen (settled commissions and counter sales, less withdrawals)")
    frozen: int = Field(description="In withdrawals not finished yet, fen")
    withdrawn: int = Field(description="Paid out, fen")
    clawback_owed: int = Field(description="Commission reversed after it was withdrawn, taken from the next earnings")
    items: list[EntryPublic]
    next_cursor: str | None


class WithdrawalCreate(JsonBody):
    amount: int = Field(ge=1, le=100_000_000, description="fen; at least LINLI_WITHDRAW_MIN")


class ReviewBody(OptionalJsonBody):
    reason: Text[500] | None = None


class WithdrawalPublic(BaseModel):
    id: int
    leader_id: int
    status: WithdrawalStatusName
    amount: int = Field(description="What left `available`, fen")
    fee: int
    transfer_amount: int = Field(description="What the transfer pays: amount less the fee, fen")
    out_bill_no: str | None
    package_info: str | None = Field(default=None, description=(
        "For wx.requestMerchantTransfer in the mini-program (with mch_id and app_id) while the bill waits "
        "for the leader's confirmation"))
    mch_id: str | None = None
    app_id: str | None = None
    fail_reason: str | None = None
    reject_reason: str | None = None
    created_at: datetime
    updated_at: datetime


class WithdrawalList(BaseModel):
    items: list[WithdrawalPublic]
    next_cursor: str | None


class WithdrawalQuery(PageQuery):
    status: WithdrawalStatusName | None = None


class WithdrawalPath(BaseModel):
    withdrawal_id: Id


class StatementPath(BaseModel):
    month: str = Field(pattern=MONTH_PATTERN, description="YYYY-MM, a month of LINLI_TIMEZONE")


class StatementQuery(QueryModel):
    format: Literal["json", "csv", "pdf"] = Field(
        default="json", description="json, csv (UTF-8 with BOM, for spreadsheets) or pdf (A4, for printing)")


class DayLine(BaseModel):
    day: date
    commission: int = Field(description="Commissions settled that day, fen")
    commission_reversed: int = Field(description="Commissions taken back that day (negative), fen")
    pay_code_sales: int
    pay_code_refunds: int


class StatementWithdrawal(BaseModel):
    id: int
    created_at: datetime
    amount: int
    status: WithdrawalStatusName


class StatementPublic(BaseModel):
    model_config = ConfigDict(**_DOCUMENTS)

    leader_id: int
    month: str
    opening_balance: int = Field(description="`available` when the month began, fen")
    closing_balance: int = Field(description="`available` when the month ended (or now), fen")
    commission: int
    commission_reversed: int
    pay_code_sales: int
    pay_code_refunds: int
    withdrawn: int = Field(description="Asked for in withdrawals this month (leaving available), fen")
    withdrawals_returned: int
    days: list[DayLine]
    withdrawals: list[StatementWithdrawal]
