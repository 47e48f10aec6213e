from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.http import Id
from app.pagination import PageQuery

RefundStatusName = Literal["pending", "processing", "succeeded", "failed"]


class RefundPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int | None = Field(description="The order refunded; null for a wallet recharge's refund")
    recharge_id: int | None = Field(default=None, description="The wallet recharge refunded, if it is one")
    payment_id: int | None
    provider: str
    out_refund_no: str
    amount: int = Field(description="This refund, fen")
    total: int = Field(description="The payment it gives back from, fen")
    reason: str
    status: RefundStatusName
    attempts: int = Field(description="Requests made to the provider since created (or last retried)")
    error: str | None = Field(description="The last thing that went wrong, if any")
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class RefundList(BaseModel):
    items: list[RefundPublic]
    next_cursor: str | None


class RefundQuery(PageQuery):
    status: RefundStatusName | None = None


class RefundPath(BaseModel):
    refund_id: Id
