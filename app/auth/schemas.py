from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.http import Id, JsonBody, Name
from app.pagination import PageQuery


class WechatLogin(JsonBody):
    code: str = Field(min_length=1, max_length=256, pattern=r"^[!-~]+$", description="The code from wx.login")


class DevLogin(JsonBody):
    openid: Name[128]
    nickname: Name[64] | None = None
    admin: bool | None = Field(default=None, description="Grant (true) or drop (false) the operator role; omitted: unchanged")


class UserPublic(BaseModel):
    id: int
    nickname: str
    roles: list[str]
    pickup_point_id: int | None
    leader_id: int | None
    leader_pickup_point_id: int | None = Field(default=None, description="A leader's own pickup point")
    phone: str | None = None


class TokenOut(BaseModel):
    token: str
    user: UserPublic


class BindPickupPoint(JsonBody):
    pickup_point_id: Id


class ProfileUpdate(JsonBody):
    nickname: Name[64] | None = None
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9]{5,20}$")


class BuyerQuery(PageQuery):
    phone_tail: str | None = Field(default=None, pattern=r"^[0-9]{4,11}$",
                                   description="The last digits (4 to 11) of the phone number")


class BuyerAdmin(BaseModel):
    id: int
    nickname: str
    phone: str | None
    pickup_point_id: int | None
    created_at: datetime


class BuyerAdminList(BaseModel):
    items: list[BuyerAdmin]
    next_cursor: str | None
