from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.http import HttpsUrl, Id, JsonBody, MultilineText, Name, OptionalJsonBody, Text
from app.pagination import PageQuery

AfterSaleStatusName = Literal["requested", "approved", "refunded", "rejected", "escalated"]


class AfterSaleItemIn(JsonBody):
    sku_id: Id
    qty: int = Field(ge=1, le=999)


class AfterSaleCreate(JsonBody):
    items: list[AfterSaleItemIn] = Field(min_length=1, max_length=50)
    reason: Name[32] = Field(description="One of LINLI_AFTER_SALE_REASONS (422 unknown_after_sale_reason)")
    description: MultilineText[500] | None = None
    images: list[HttpsUrl] = Field(default_factory=list, max_length=9, description="Photos, https URLs")


class DecisionBody(OptionalJsonBody):
    note: Text[500] | None = None


class AfterSaleItemOut(BaseModel):
    sku_id: int
    name: str
    qty: int
    unit_price: int
    refunded_qty: int = Field(description="Units the approval gave back (0 until refunded)")


class AfterSaleLogOut(BaseModel):
    at: datetime
    actor: str = Field(description="buyer:<user id>, leader:<leader id>, operator:<user id> or system")
    action: Literal["requested", "approved", "refunded", "rejected", "escalated"]
    note: str | None


class AfterSalePublic(BaseModel):
    id: int
    order_id: int
    status: AfterSaleStatusName
    items: list[AfterSaleItemOut]
    reason: str
    description: str | None
    images: list[str]
    amount: int = Field(description="What was paid (fen) for the units asked for, less what was already "
                                    "refunded for them")
    refunded_amount: int = Field(description="Money the approval gave back (fen)")
    pickup_point_id: int
    decided_by: Literal["leader", "operator"] | None
    created_at: datetime
    updated_at: datetime
    log: list[AfterSaleLogOut]


class AfterSaleList(BaseModel):
    items: list[AfterSalePublic]
    next_cursor: str | None


class AfterSaleQuery(PageQuery):
    status: AfterSaleStatusName | None = None


class AfterSalePath(BaseModel):
    after_sale_id: Id


class OrderPath(BaseModel):
    order_id: Id
