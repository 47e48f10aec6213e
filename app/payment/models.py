from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import ts_field


class Payment(SQLModel, table=True):
    """One row per provider transaction: the unique key is what makes handling happen once."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "transaction_id", name="uq_payments_provider_txn"),
        # The database itself refuses to give back more than was paid, whatever path refunds.
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refunded_within_amount"),
        # A payment pays an order or a wallet recharge, never both.
        CheckConstraint("(order_id IS NULL) <> (recharge_id IS NULL)", name="pays_one_thing"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    # A wallet recharge's payment (out_trade_no LR + id): the wallet domain's, named by table only.
    recharge_id: int | None = Field(default=None, foreign_key="wallet_recharges.id", index=True)
    provider: str = Field(max_length=16)
    transaction_id: str = Field(max_length=64)
    amount: int = Field(sa_type=BigInteger)
    # The sum of the refunds created against this payment (pending ones included: they are
    # owed); raised only by a conditional UPDATE that keeps it <= amount.
    refunded_amount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    # applied | amount_mismatch | late (order no longer payable) | refused (by an order rule): the last three refunded automatically
    status: str = Field(max_length=20)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = ts_field(default_now=True)


class RefundStatus(str, enum.Enum):
    """pending: owed, not yet accepted by the provider (the job or the sweep will ask);
    processing: the provider accepted it and reports the end later (notification or query);
    succeeded / failed: final, except that an operator may send a failed one back to pending."""

    pending = "pending"
    processing = "processing"
    succeeded = "succeeded"
    failed = "failed"


class Refund(SQLModel, table=True):
    __tablename__ = "refunds"
    __table_args__ = (
        # A caller that names its refund (a shortage line, say) gets one refund per name, ever.
        UniqueConstraint("order_id", "idempotency_ref", name="uq_refunds_order_ref"),
        Index("ix_refunds_status_updated_at", "status", "updated_at"),
        CheckConstraint("amount > 0 AND amount <= total", name="amount_within_total"),
        CheckConstraint("(order_id IS NULL) <> (recharge_id IS NULL)", name="refunds_one_thing"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    recharge_id: int | None = Field(default=None, foreign_key="wallet_recharges.id", index=True)
    payment_id: int | None = Field(default=None, foreign_key="payments.id", index=True)
    out_refund_no: str = Field(max_length=64, unique=True)
    provider: str = Field(max_length=16)
    transaction_id: str | None = Field(default=None, max_length=64)
    amount: int = Field(sa_type=BigInteger)  # this refund, fen
    total: int = Field(sa_type=BigInteger)  # the original payment's amount, as WeChat Pay wants it
    reason: str = Field(default="", max_length=80)
    idempotency_ref: str | None = Field(default=None, max_length=64)
    status: str = Field(default=RefundStatus.pending.value, max_length=16)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    error: str | None = Field(default=None, max_length=500)  # the last one
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)  # last attempt or status change: what the sweep ages by
    completed_at: datetime | None = ts_field()
