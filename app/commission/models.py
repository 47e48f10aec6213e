from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index
from sqlmodel import Field, SQLModel

from app.db import ts_field


class Commission(SQLModel, table=True):
    __tablename__ = "commissions"
    __table_args__ = (Index("ix_commissions_status_settle_at", "status", "settle_at"),)

    id: int | None = Field(default=None, primary_key=True)
    leader_id: int = Field(foreign_key="leaders.id", index=True)
    order_id: int = Field(foreign_key="orders.id", unique=True)  # one entry per order, ever
    amount: int = Field(sa_type=BigInteger)  # fen
    rate_bp: int
    status: str = Field(default="pending", max_length=16)  # pending | settled | reversed
    settle_at: datetime = ts_field(nullable=False)
    created_at: datetime = ts_field(default_now=True)
    settled_at: datetime | None = ts_field()
    reversed_at: datetime | None = ts_field()
