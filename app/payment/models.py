from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import ts_field


class Payment(SQLModel, table=True):
    """One row per provider transaction: the unique key is what makes handling happen once."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "transaction_id", name="uq_payments_provider_txn"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    provider: str = Field(max_length=16)
    transaction_id: str = Field(max_length=64)
    amount: int
    # applied | amount_mismatch | late (order no longer payable: refunded automatically)
    status: str = Field(max_length=20)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = ts_field(default_now=True)


class Refund(SQLModel, table=True):
    __tablename__ = "refunds"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    out_refund_no: str = Field(max_length=64, unique=True)
    provider: str = Field(max_length=16)
    transaction_id: str | None = Field(default=None, max_length=64)
    amount: int
    total: int
    reason: str = Field(default="", max_length=80)
    status: str = Field(default="pending", max_length=16)  # pending | succeeded | failed
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = ts_field(default_now=True)
    completed_at: datetime | None = ts_field()
