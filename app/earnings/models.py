from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import ts_field


class EntryKind(str, Enum):
    commission = "commission"  # a commission settled: available grows
    commission_reversed = "commission_reversed"  # a settled commission taken back (or a clawback)
    pay_code_sale = "pay_code_sale"  # a counter sale paid with a buyer's pay code (the wallet issue)
    pay_code_refund = "pay_code_refund"
    withdrawal = "withdrawal"  # asked for: available → frozen
    withdrawal_returned = "withdrawal_returned"  # rejected, failed or cancelled: frozen → available


class WithdrawalStatus(str, Enum):
    reviewing = "reviewing"
    approved = "approved"  # a transfer bill may be in the making (look it up before asking again)
    awaiting_confirmation = "awaiting_confirmation"  # the bill exists; the leader confirms it in the mini-program
    paid = "paid"
    failed = "failed"  # the amount went back to available
    rejected = "rejected"  # by the operator; the amount went back to available


IN_FLIGHT = (WithdrawalStatus.approved.value, WithdrawalStatus.awaiting_confirmation.value)
OPEN = (WithdrawalStatus.reviewing.value,) + IN_FLIGHT


class EarningsAccount(SQLModel, table=True):
    """A leader's balances. `available` is the sum of the ledger's entries (each entry's
    balance_after is it after that entry); `frozen` is what sits in open withdrawals, `withdrawn`
    what was paid out. `clawback_owed` is a reversal the balance could not cover when it came,
    taken from the next credits."""

    __tablename__ = "earnings_accounts"
    __table_args__ = (
        CheckConstraint("available >= 0", name="available_not_negative"),
        CheckConstraint("frozen >= 0", name="frozen_not_negative"),
        CheckConstraint("withdrawn >= 0", name="withdrawn_not_negative"),
        CheckConstraint("clawback_owed >= 0", name="clawback_not_negative"),
    )

    leader_id: int = Field(foreign_key="leaders.id", primary_key=True)
    available: int = Field(default=0, sa_type=BigInteger)
    frozen: int = Field(default=0, sa_type=BigInteger)
    withdrawn: int = Field(default=0, sa_type=BigInteger)
    clawback_owed: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = ts_field(default_now=True)


class EarningsEntry(SQLModel, table=True):
    __tablename__ = "earnings_entries"
    # Each movement happens once: (kind, source) names it, e.g. ("commission", "commission:12").
    __table_args__ = (UniqueConstraint("kind", "source", name="uq_earnings_entries_kind_source"),
                      Index("ix_earnings_entries_leader_id_id", "leader_id", "id"),
                      CheckConstraint("balance_after >= 0", name="balance_after_not_negative"))

    id: int | None = Field(default=None, primary_key=True)
    leader_id: int = Field(foreign_key="leaders.id")
    amount: int = Field(sa_type=BigInteger)  # signed fen: what available changed by
    kind: str = Field(max_length=32)
    source: str = Field(max_length=96)
    balance_after: int = Field(sa_type=BigInteger)
    created_at: datetime = ts_field(default_now=True)


class Withdrawal(SQLModel, table=True):
    __tablename__ = "withdrawals"
    __table_args__ = (Index("ix_withdrawals_leader_id_id", "leader_id", "id"),
                      Index("ix_withdrawals_status_updated_at", "status", "updated_at"),
                      CheckConstraint("amount > 0", name="amount_positive"),
                      CheckConstraint("transfer_amount > 0", name="transfer_amount_positive"))

    id: int | None = Field(default=None, primary_key=True)
    leader_id: int = Field(foreign_key="leaders.id")
    amount: int = Field(sa_type=BigInteger)  # what left available
    fee: int = Field(default=0, sa_type=BigInteger)
    transfer_amount: int = Field(sa_type=BigInteger)  # what the transfer pays: amount less the fee
    status: str = Field(default=WithdrawalStatus.reviewing.value, max_length=24)
    out_bill_no: str | None = Field(default=None, max_length=32, unique=True)
    transfer_bill_no: str | None = Field(default=None, max_length=64)
    bill_state: str | None = Field(default=None, max_length=24)  # WeChat Pay's, as last heard
    package_info: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    fail_reason: str | None = Field(default=None, max_length=128)
    reject_reason: str | None = Field(default=None, max_length=500)
    # Set before the transfer request is sent: from then on the bill may exist, and it is looked
    # up before the request is ever sent again.
    requested_at: datetime | None = ts_field()
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    reviewed_at: datetime | None = ts_field()
    bill_created_at: datetime | None = ts_field()
    finished_at: datetime | None = ts_field()
