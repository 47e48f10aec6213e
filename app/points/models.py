from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import ts_field


class PointAccount(SQLModel, table=True):
    """One row per user who ever had points: the balance, moved only by conditional UPDATEs."""
    __tablename__ = "point_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_non_negative"),)

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    balance: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))


class PointEntry(SQLModel, table=True):
    """One movement (+ earned or given back, - spent or reversed). The unique key is the "once"
    rule: a hook or job run twice finds its movement already made."""
    __tablename__ = "point_entries"
    __table_args__ = (UniqueConstraint("user_id", "order_id", "reason", name="uq_point_entries_user_order_reason"),
                      Index("ix_point_entries_user_id_id", "user_id", "id"))

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    amount: int = Field(sa_type=BigInteger)
    reason: str = Field(max_length=32)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    created_at: datetime = ts_field(default_now=True)
