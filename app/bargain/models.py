from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import ts_field


class RecordStatus(str, enum.Enum):
    active = "active"
    completed = "completed"  # the floor is reached
    expired = "expired"


class Bargain(SQLModel, table=True):
    __tablename__ = "bargains"
    __table_args__ = (CheckConstraint("stock_left IS NULL OR stock_left >= 0", name="stock_left_non_negative"),)

    id: int | None = Field(default=None, primary_key=True)
    sku_id: int = Field(foreign_key="skus.id", index=True)
    start_price: int = Field(sa_type=BigInteger)
    floor_price: int = Field(sa_type=BigInteger)
    helpers_needed: int
    duration_s: int
    starts_at: datetime = ts_field(nullable=False)
    ends_at: datetime = ts_field(nullable=False)
    stock: int | None = Field(default=None, sa_type=BigInteger)
    stock_left: int | None = Field(default=None, sa_type=BigInteger)
    helps_per_day: int | None = None  # None: LINLI_BARGAIN_HELPS_PER_DAY
    buy_at_any_price: bool = True  # False: an order only once the floor is reached
    created_at: datetime = ts_field(default_now=True)


class BargainRecord(SQLModel, table=True):
    __tablename__ = "bargain_records"
    __table_args__ = (
        # One active record per user and campaign: active_slot is 1 until the record expires or
        # is ordered, then NULL (NULLs never collide in a unique key).
        UniqueConstraint("campaign_id", "user_id", "active_slot", name="uq_bargain_records_one_active"),
        Index("ix_bargain_records_status_expires_at", "status", "expires_at"),
        CheckConstraint("current_price >= floor_price", name="never_below_floor"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="bargains.id", index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    start_price: int = Field(sa_type=BigInteger)
    current_price: int = Field(sa_type=BigInteger)
    floor_price: int = Field(sa_type=BigInteger)
    helpers_needed: int
    helpers_count: int = 0
    status: str = Field(default=RecordStatus.active.value, max_length=16)
    active_slot: int | None = 1
    # The one order of this record (a unique key: made once per record).
    order_id: int | None = Field(default=None, foreign_key="orders.id", unique=True)
    expires_at: datetime = ts_field(nullable=False)
    created_at: datetime = ts_field(default_now=True)
    completed_at: datetime | None = ts_field()


class BargainHelp(SQLModel, table=True):
    __tablename__ = "bargain_helps"
    __table_args__ = (
        UniqueConstraint("record_id", "helper_id", name="uq_bargain_helps_record_helper"),
        Index("ix_bargain_helps_helper_day", "helper_id", "help_day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="bargain_records.id", index=True)
    helper_id: int = Field(foreign_key="users.id")
    cut: int = Field(default=0, sa_type=BigInteger)
    help_day: date  # the business-zone day, for the helps-per-day limit
    created_at: datetime = ts_field(default_now=True)
