from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.db import ts_field


class OrderStatus(str, enum.Enum):
    pending_payment = "pending_payment"
    paid = "paid"
    shipped = "shipped"
    arrived = "arrived"
    picked_up = "picked_up"
    cancelled = "cancelled"
    refunded = "refunded"


class OrderSource(str, enum.Enum):
    plain = "plain"
    flash_sale = "flash_sale"
    group = "group"
    bargain = "bargain"


ONE_ORDER_PER_REF = text("source IN ('flash_sale', 'bargain')")
# A pending_payment order: neither paid nor cancelled yet (both stamps are set once, on leaving it).
UNPAID = text("paid_at IS NULL AND cancelled_at IS NULL")
ORDERS_FILLFACTOR = 50
LIVE_COUPON = text("coupon_id IS NOT NULL AND cancelled_at IS NULL AND refunded_at IS NULL")


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("pickup_point_id", "delivery_date", "pickup_code", name="uq_orders_point_date_code"),
        # The nightly shipping UPDATE changes status and shipped_at of every paid order of a date.
        # On PostgreSQL it is a HOT update (a new row version on the same page and no index
        # entry at all) only if no index names a column it changes, in its keys or its WHERE,
        # and the page has room: hence no index on status, a pending-payment index whose
        # predicate is written with paid_at/cancelled_at (set once, never by shipping), and
        # pages filled to half (an order is rewritten at payment, shipping, arrival and pickup;
        # a page of orders of one date is shipped at once, and each needs room for its new version).
        # Orders by point and date use uq_orders_point_date_code; by date (the build), this one.
        Index("ix_orders_delivery_date", "delivery_date"),
        # The expiry sweep looks for unpaid orders only (it also says paid_at/cancelled_at IS NULL,
        # so that the planner can use this index).
        Index("ix_orders_unpaid_pay_before", "pay_before", sqlite_where=UNPAID, postgresql_where=UNPAID),
        Index("ix_orders_source_ref", "source_ref", sqlite_where=text("source_ref IS NOT NULL"),
              postgresql_where=text("source_ref IS NOT NULL")),
        # One order per thing it came from where a ref names one order (a flash reservation, a bargain
        # record): a drain batch run twice creates nothing twice. A group's ref names all its members.
        Index("uq_orders_one_per_ref", "source", "source_ref", unique=True, sqlite_where=ONE_ORDER_PER_REF,
              postgresql_where=ONE_ORDER_PER_REF),
        CheckConstraint("total >= 0", name="total_non_negative"),
        CheckConstraint("points_used >= 0", name="points_used_non_negative"),
        CheckConstraint("coupon_discount >= 0", name="coupon_discount_non_negative"),
        # One coupon on one live order, said by the database too (the coupon's own conditional
        # UPDATE unused → used is the guard; this is the net under it). Cancelled and refunded
        # orders leave it: their coupon may come back and be used again.
        Index("uq_orders_live_coupon", "coupon_id", unique=True, sqlite_where=LIVE_COUPON,
              postgresql_where=LIVE_COUPON),
        CheckConstraint("member_discount >= 0", name="member_discount_non_negative"),
        {"postgresql_with": {"fillfactor": ORDERS_FILLFACTOR}},
    )

    id: int | None = Field(default=None, primary_key=True)
    buyer_id: int = Field(foreign_key="users.id", index=True)
    pickup_point_id: int = Field(foreign_key="pickup_points.id")
    leader_id: int = Field(foreign_key="leaders.id", index=True)
    status: str = Field(default=OrderStatus.pending_payment.value, max_length=20)
    # Where the order came from (plain checkout, a flash sale, a group, a bargain) and the id
    # of that thing in its own domain, so later domains attach without changing this table.
    source: str = Field(default=OrderSource.plain.value, max_length=16)
    source_ref: str | None = Field(default=None, max_length=64)
    total: int = Field(sa_type=BigInteger)  # fen (64-bit, as every money column): what the buyer pays
    # Points spent on the order (1 point = 1 fen): the goods are worth total + points_used
    # (+ coupon_discount).
    points_used: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    # The coupon used on the order (app/coupons) and what it took off the goods (after the member
    # discount): the goods are worth total + points_used + coupon_discount.
    coupon_id: int | None = Field(default=None, foreign_key="coupons.id")
    coupon_discount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    # The buyer's member-level discount on ordinary lines (never flash, group or bargain prices).
    member_discount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    # The share that brought the order (attribution at placement), if any.
    share_token: str | None = Field(default=None, max_length=32, index=True)
    # None until known: a group-buy order takes its date when its group succeeds.
    delivery_date: date | None = None
    note: str | None = Field(default=None, max_length=200)
    pickup_code: str | None = Field(default=None, max_length=6)
    pay_before: datetime | None = ts_field()
    created_at: datetime = ts_field(default_now=True)
    paid_at: datetime | None = ts_field()
    shipped_at: datetime | None = ts_field()
    arrived_at: datetime | None = ts_field()
    picked_up_at: datetime | None = ts_field()
    cancelled_at: datetime | None = ts_field()
    refunded_at: datetime | None = ts_field()
    cancel_reason: str | None = Field(default=None, max_length=64)


class OrderItem(SQLModel, table=True):
    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("refunded_qty >= 0 AND refunded_qty <= qty", name="refunded_within_qty"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    sku_id: int = Field(foreign_key="skus.id", index=True)
    product_name: str = Field(max_length=100)
    sku_name: str = Field(max_length=100)
    qty: int = Field(sa_type=BigInteger)
    unit_price: int = Field(sa_type=BigInteger)
    amount: int = Field(sa_type=BigInteger)
    # Units given back because they never reached the pickup point (a shortage report); raised
    # only by a conditional UPDATE that keeps it <= qty, so an order never loses more than it had.
    refunded_qty: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
