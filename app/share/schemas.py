from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.http import Id, JsonBody
from app.pagination import PageQuery

TargetTypeName = Literal["product", "flash_sale", "group", "bargain_record"]
TOKEN_PATTERN = r"^[0-9A-Za-z]{1,32}$"


class ShareCreate(JsonBody):
    target_type: TargetTypeName
    target_id: Id


class SharePublic(BaseModel):
    token: str = Field(description="At most 32 characters of [0-9A-Za-z]: usable as a mini-program code scene")
    path: str = Field(description="The mini-program page for onShareAppMessage, carrying share=TOKEN")
    target_type: TargetTypeName
    target_id: int
    sharer_id: int
    leader_id: int | None = Field(description="The leader of the sharer's bound pickup point (null if unbound)")


class SharePath(BaseModel):
    token: str = Field(pattern=TOKEN_PATTERN)


class SharerBrief(BaseModel):
    nickname: str


class LeaderBrief(BaseModel):
    id: int
    nickname: str


class PointBrief(BaseModel):
    id: int
    name: str
    address: str


class ShareOpened(BaseModel):
    target_type: TargetTypeName
    target_id: int
    sharer: SharerBrief
    leader: LeaderBrief | None = Field(description="The share's leader (null if the sharer had no pickup point)")
    pickup_point: PointBrief | None = Field(description="The share's leader's pickup point")
    bound: bool = Field(description="Whether this open bound me to that pickup point (LINLI_BINDING_MODE)")


class MyShare(BaseModel):
    token: str
    target_type: TargetTypeName
    target_id: int
    visits: int = Field(description="Distinct visitors who opened it (not me)")
    orders: int = Field(description="Orders it brought that were paid (not cancelled or refunded)")
    points_earned: int = Field(description="Points it earned me, less rewards reversed by refunds")
    created_at: datetime


class MyShareList(BaseModel):
    items: list[MyShare]
    next_cursor: str | None


class MySharesQuery(PageQuery):
    pass
