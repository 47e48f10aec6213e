from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import ts_field


class SyncState(str, Enum):
    pending = "pending"        # written with the event (the outbox); a worker sends it once due
    uploading = "uploading"    # a worker took it and is asking WeChat
    uploaded = "uploaded"      # WeChat took the upload
    uncertain = "uncertain"    # no answer after the request went out: get_order decides, never a resend
    failed = "failed"          # WeChat refused, or transient errors outlasted every retry: an operator's
    confirmed = "confirmed"    # the buyer confirmed receipt (or WeChat did for them)
    settled = "settled"        # WeChat settled the money to the merchant
    void = "void"              # refunded before it was sent: never uploaded


# Logistics types (logistics_type): 4 self-pickup, what every linli order is; 3 virtual goods,
# for recharges (the wallet domain, not built yet: queue_virtual_goods is its seam).
SELF_PICKUP, VIRTUAL_GOODS = 4, 3


class ShippingSync(SQLModel, table=True):
    """One row per WeChat Pay payment to report: WeChat allows one change per payment, so the
    transaction id is unique and a row is sent at most once unless WeChat says it has nothing."""

    __tablename__ = "shipping_syncs"
    __table_args__ = (
        UniqueConstraint("transaction_id", name="uq_shipping_syncs_transaction_id"),
        UniqueConstraint("order_id", name="uq_shipping_syncs_order_id"),
        Index("ix_shipping_syncs_state_due", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The order it reports (None for a recharge, whose ref names it).
    order_id: int | None = Field(default=None, foreign_key="orders.id")
    ref: str = Field(max_length=64)  # "order:<id>" or "recharge:<id>"
    transaction_id: str = Field(max_length=64)
    out_trade_no: str = Field(max_length=32)
    openid: str = Field(max_length=128)  # the payer, as WeChat Pay reported them
    logistics_type: int = SELF_PICKUP
    item_desc: str = Field(max_length=120)
    state: str = Field(default=SyncState.pending.value, max_length=16)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    errcode: int | None = None
    error: str | None = Field(default=None, max_length=200)
    # WeChat's own order_state when last looked up (1 awaiting shipment .. 5 refunded).
    wechat_state: int | None = None
    # The upload_time of the last request sent (RFC 3339 with offset): WeChat orders updates by it.
    upload_time: str | None = Field(default=None, max_length=40)
    paid_at: datetime | None = ts_field()
    created_at: datetime = ts_field(default_now=True)
    updated_at: datetime = ts_field(default_now=True)
    due_at: datetime = ts_field(default_now=True)  # when a worker should next act on it
    uploaded_at: datetime | None = ts_field()
    estimated_settlement_at: datetime | None = ts_field()
    confirmed_at: datetime | None = ts_field()
    settled_at: datetime | None = ts_field()


class ShippingPush(SQLModel, table=True):
    """Each message push WeChat sent us about shipping, once: WeChat resends a push it got no
    answer to, and the unique key makes the second one a no-op."""

    __tablename__ = "shipping_pushes"
    __table_args__ = (UniqueConstraint("event", "transaction_id", "create_time", "digest",
                                       name="uq_shipping_pushes_event"),)

    id: int | None = Field(default=None, primary_key=True)
    event: str = Field(max_length=64)
    transaction_id: str = Field(default="", max_length=64)
    create_time: int = 0  # WeChat's CreateTime
    digest: str = Field(max_length=64)  # sha256 of the push's fields, so distinct pushes differ
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = ts_field(default_now=True)
