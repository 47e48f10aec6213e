"""After-sales (售后): a buyer's request for money back for some units of an order, decided by
the point's leader first (within LINLI_LEADER_AFTER_SALE_LIMIT), by an operator when larger or
disputed; every step in its log."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, text
from sqlmodel import Field, SQLModel

from app.db import ts_field


class AfterSaleStatus(str, enum.Enum):
    requested = "requested"
    approved = "approved"  # decided; the refund is made in the same transaction (then refunded)
    refunded = "refunded"
    rejected = "rejected"
    escalated = "escalated"


# A request still to be decided or refunded: one per order at a time (a partial unique index).
OPEN = ("requested", "escalated", "approved")
OPEN_SQL = text("status IN ('requested', 'escalated', 'approved')")


class AfterSale(SQLModel, table=True):
    __tablename__ = "after_sales"
    __table_args__ = (
        Index("uq_after_sales_one_open_per_order", "order_id", unique=True, sqlite_where=OPEN_SQL,
              postgresql_where=OPEN_SQL),
        Index("ix_after_sales_point_status", "pickup_point_id", "status"),
        # The SLA sweep: requests the leader has not decided yet, oldest first.
        Index("ix_after_sales_status_created", "status", "created_at"),
        CheckConstraint("amount >= 0", name="after_sale_amount_non_negative"),
        CheckConstraint("refunded_amount >= 0", name="after_sale_refunded_non_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    buyer_id: int = Field(foreign_key="users.id", index=True)
    pickup_point_id: int = Field(foreign_key="pickup_points.id")
    leader_id: int = Field(foreign_key="leaders.id")
    status: str = Field(default=AfterSaleStatus.requested.value, max_length=16)
    reason: str = Field(max_length=32)
    description: str | None = Field(default=None, max_length=500)
    images: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # What was paid (money) for the units asked for, less what was already refunded for them, fen.
    amount: int = Field(sa_type=BigInteger)
    # What the approval gave back in money (it may be less if units were refunded meanwhile).
    refunded_amount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    # Who decided last: "leader" or "operator" (a leader's rejection may be escalated, an operator's not).
    decided_by: str | None = Field(default=None, max_length=16)
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)


class AfterSaleItem(SQLModel, table=True):
    __tablename__ = "after_sale_items"
    __table_args__ = (CheckConstraint("qty > 0", name="after_sale_item_qty_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    after_sale_id: int = Field(foreign_key="after_sales.id", index=True)
    order_item_id: int = Field(foreign_key="order_items.id")
    sku_id: int = Field(foreign_key="skus.id")
    name: str = Field(max_length=201)
    qty: int = Field(sa_type=BigInteger)
    unit_price: int = Field(sa_type=BigInteger)
    refunded_qty: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))


class AfterSaleLog(SQLModel, table=True):
    __tablename__ = "after_sale_logs"

    id: int | None = Field(default=None, primary_key=True)
    after_sale_id: int = Field(foreign_key="after_sales.id", index=True)
    at: datetime = ts_field(default_now=True)
    actor: str = Field(max_length=32)  # buyer:<user id>, leader:<leader id>, operator:<user id>, system
    action: str = Field(max_length=16)  # requested, approved, refunded, rejected, escalated
    note: str | None = Field(default=None, max_length=500)
