from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import ts_field


class GroupStatus(str, enum.Enum):
    forming = "forming"
    succeeded = "succeeded"
    failed = "failed"


class GroupBuy(SQLModel, table=True):
    """A campaign: one SKU at a group price for groups of `group_size` that fill within `duration_s`."""
    __tablename__ = "group_buys"
    __table_args__ = (CheckConstraint("stock_left IS NULL OR stock_left >= 0", name="stock_left_non_negative"),)

    id: int | None = Field(default=None, primary_key=True)
    sku_id: int = Field(foreign_key="skus.id", index=True)
    group_price: int = Field(sa_type=BigInteger)
    opener_price: int | None = Field(default=None, sa_type=BigInteger)  # 开团价: what the opener pays
    group_size: int
    duration_s: int
    starts_at: datetime = ts_field(nullable=False)
    ends_at: datetime = ts_field(nullable=False)
    per_user_limit: int | None = None  # units per buyer over the campaign
    # A stock of its own, carved from the SKU at creation (None: orders take the SKU's stock).
    stock: int | None = Field(default=None, sa_type=BigInteger)
    stock_left: int | None = Field(default=None, sa_type=BigInteger)
    virtual_fill_max_missing: int = 0
    created_at: datetime = ts_field(default_now=True)


class Group(SQLModel, table=True):
    __tablename__ = "buy_groups"
    __table_args__ = (
        # One open group per user per campaign: open_slot is 1 while forming and NULL after, and
        # NULLs never collide in a unique key (SQLite and PostgreSQL alike).
        UniqueConstraint("campaign_id", "opener_id", "open_slot", name="uq_buy_groups_one_open"),
        Index("ix_buy_groups_status_expires_at", "status", "expires_at"),
        CheckConstraint("paid_count >= 0 AND paid_count <= group_size", name="paid_count_in_size"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="group_buys.id", index=True)
    opener_id: int = Field(foreign_key="users.id")
    status: str = Field(default=GroupStatus.forming.value, max_length=16)
    group_size: int
    paid_count: int = 0
    open_slot: int | None = 1
    virtual_fill: bool = False
    expires_at: datetime = ts_field(nullable=False)
    created_at: datetime = ts_field(default_now=True)
    closed_at: datetime | None = ts_field()


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_members"
    __table_args__ = (UniqueConstraint("group_id", "user_id", name="uq_group_members_group_user"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="buy_groups.id", index=True)
    campaign_id: int = Field(foreign_key="group_buys.id")
    user_id: int = Field(foreign_key="users.id", index=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id", unique=True)
    qty: int
    is_opener: bool = False
    created_at: datetime = ts_field(default_now=True)
