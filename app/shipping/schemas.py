from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.http import Id, QueryModel
from app.pagination import PageQuery

SyncStateName = Literal["pending", "uploading", "uploaded", "uncertain", "failed", "confirmed", "settled", "void"]


class ShippingSyncPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int | None = Field(description="The order reported (null for a recharge, named by ref)")
    ref: str
    transaction_id: str = Field(description="The WeChat Pay transaction: WeChat's key for the shipment")
    logistics_type: int = Field(description="4 self-pickup (orders); 3 virtual goods (recharges)")
    item_desc: str
    state: SyncStateName
    attempts: int = Field(description="Uploads sent or tried since created (or last retried)")
    errcode: int | None = Field(description="WeChat's errcode of the last refusal or error, if any")
    error: str | None
    wechat_state: int | None = Field(description="WeChat's order_state at the last lookup (1 awaiting "
                                                 "shipment, 2 shipped, 3 received, 4 settled, 5 refunded)")
    paid_at: datetime | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime
    uploaded_at: datetime | None
    estimated_settlement_at: datetime | None
    confirmed_at: datetime | None
    settled_at: datetime | None


class ShippingList(BaseModel):
    items: list[ShippingSyncPublic]
    next_cursor: str | None
    counts: dict[str, int] = Field(description="Syncs per state, all of them")
    overdue: int = Field(description="Orders paid through WeChat Pay more than overdue_after_h hours ago "
                                     "and not yet uploaded (no sync, or one not uploaded)")
    overdue_after_h: int


class ShippingQuery(PageQuery):
    state: SyncStateName | None = None


class ShippingPath(BaseModel):
    sync_id: Id


class PushQuery(QueryModel):
    """What WeChat puts on a message push's URL (sha1 hex signatures, digits, ids)."""

    signature: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}$")
    timestamp: str | None = Field(default=None, pattern=r"^[0-9]{1,12}$")
    nonce: str | None = Field(default=None, pattern=r"^[0-9A-Za-z]{1,64}$")
    echostr: str | None = Field(default=None, pattern=r"^[0-9A-Za-z_-]{1,128}$")
    encrypt_type: str | None = Field(default=None, pattern=r"^aes$")
    msg_signature: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}$")
    openid: str | None = Field(default=None, pattern=r"^[0-9A-Za-z_-]{1,128}$")
