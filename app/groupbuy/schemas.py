from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from app.http import Id, JsonBody, OptionalJsonBody, Price
from app.order.schemas import OrderPublic


class GroupBuyCreate(JsonBody):
    """A group-buy campaign. Rules across fields (422 validation_error, each at its field): `ends_at` after
    `starts_at`; `opener_price` at most `group_price`; `virtual_fill_max_missing` below `group_size`."""

    sku_id: Id
    group_price: Price
    group_size: int = Field(ge=2, le=50)
    duration_s: int = Field(ge=60, le=86400)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    opener_price: Price | None = Field(default=None, description="开团价: the opener's price, at most group_price")
    per_user_limit: int | None = Field(default=None, ge=1, le=999, description="units per buyer in this campaign")
    stock: int | None = Field(default=None, ge=1, le=1_000_000,
                              description="a stock of its own, carved from the SKU's now (omitted: the SKU's)")
    virtual_fill_max_missing: int = Field(default=0, ge=0, le=49, description=(
        "at the deadline a group missing at most this many paid members succeeds anyway; 0 = off"))


class GroupBuyPublic(BaseModel):
    id: int
    sku_id: int
    group_price: int
    opener_price: int | None
    group_size: int
    duration_s: int
    starts_at: datetime
    ends_at: datetime
    per_user_limit: int | None
    stock: int | None
    stock_left: int | None
    virtual_fill_max_missing: int


class GroupBuyList(BaseModel):
    items: list[GroupBuyPublic]


class GroupBuyAdmin(GroupBuyPublic):
    state: Literal["upcoming", "running", "ended"]
    groups_forming: int
    groups_succeeded: int
    groups_failed: int


class GroupBuyAdminList(BaseModel):
    items: list[GroupBuyAdmin]
    next_cursor: str | None


class JoinBody(OptionalJsonBody):
    qty: int = Field(default=1, ge=1, le=99)
    pickup_point_id: Id | None = None


class MemberPublic(BaseModel):
    nickname: str


class GroupPublic(BaseModel):
    id: int
    status: Literal["forming", "succeeded", "failed"]
    campaign: GroupBuyPublic
    members: list[MemberPublic]
    paid_count: int
    needed: int = Field(description="paid members still missing")
    expires_at: datetime


class GroupAndOrder(BaseModel):
    group: GroupPublic
    order: OrderPublic


class GroupBuyPath(BaseModel):
    group_buy_id: Id


class GroupPath(BaseModel):
    group_id: Id
