from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index
from sqlmodel import Field, SQLModel

from app.db import ts_field


class Kind(str, Enum):
    order_ready = "order_ready"
    group_result = "group_result"
    bargain_completed = "bargain_completed"
    manifest_ready = "manifest_ready"
    chat_unread = "chat_unread"
    coupon_granted = "coupon_granted"


class SendStatus(str, Enum):
    pending = "pending"    # written with the event; a worker will take it
    sending = "sending"    # a worker took it and used a grant; WeChat is being asked
    sent = "sent"
    skipped = "skipped"    # no grant (or no openid): WeChat was not asked
    refused = "refused"    # WeChat said no for good (43101, 40003, ...): errcode says why
    failed = "failed"      # transient errors until the last try, or an answer that never came


class SubscribeGrant(SQLModel, table=True):
    """One-time sends a user accepted (wx.requestSubscribeMessage) and that are not used yet."""

    __tablename__ = "subscribe_grants"
    __table_args__ = (CheckConstraint("remaining >= 0", name="remaining_non_negative"),)

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    kind: str = Field(max_length=32, primary_key=True)
    remaining: int = 0
    updated_at: datetime = ts_field(default_now=True)


class SubscribeSend(SQLModel, table=True):
    """The outbox: one row per message to send, written in the event's own transaction."""

    __tablename__ = "subscribe_sends"
    __table_args__ = (Index("ix_subscribe_sends_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    kind: str = Field(max_length=32)
    template_id: str = Field(max_length=128)
    page: str = Field(max_length=256)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=SendStatus.pending.value, max_length=16)
    attempts: int = 0
    errcode: int | None = None
    reason: str | None = Field(default=None, max_length=64)
    created_at: datetime = ts_field(default_now=True)
    # When a worker should next take a pending send (the sweep looks a minute past it); a taken
    # send's time of taking.
    due_at: datetime = ts_field(default_now=True)
    done_at: datetime | None = ts_field()
