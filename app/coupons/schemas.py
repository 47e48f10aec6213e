from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from app.http import Id, JsonBody, Name
from app.pagination import PageQuery
from app.workbench.fans import Segment

Fen = int
MAX_FEN = 10**10


class TemplateCreate(JsonBody):
    name: Name[60]
    kind: Literal["fixed", "percent"] = Field(description="fixed: `value` fen off; percent: `value` percent off")
    value: int = Field(ge=1, le=MAX_FEN, description="fixed: fen off; percent: percent off (1..99)")
    max_discount: int | None = Field(default=None, ge=1, le=MAX_FEN,
                                     description="percent coupons: at most this many fen off (none: no cap)")
    min_spend: int = Field(ge=0, le=MAX_FEN, description="fen of eligible goods (after the member discount) an "
                                                          "order needs for the coupon")
    total: int = Field(ge=1, le=10_000_000, description="never more than this many issued (claims and grants)")
    per_user_limit: int = Field(ge=1, le=100)
    valid_from: AwareDatetime
    valid_to: AwareDatetime = Field(description="claims and uses end here")
    valid_days: int | None = Field(default=None, ge=1, le=3650, description=(
        "a coupon lasts this many days from claiming (never past valid_to); none: until valid_to"))
    product_ids: list[Id] | None = Field(default=None, max_length=100, description=(
        "only these products' lines count towards min_spend and the discount; none: the whole order"))
    claimable: bool = Field(default=True, description="false: only leaders hand it out (grants within quotas)")

    @model_validator(mode="after")
    def _percent(self):
        if self.kind == "percent" and self.value > 99:
            raise ValueError("a percent coupon takes 1..99 percent off")
        if self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self


class TemplatePublic(BaseModel):
    id: int
    name: str
    kind: Literal["fixed", "percent"]
    value: int
    max_discount: int | None
    min_spend: int
    total: int
    issued: int
    left: int = Field(description="total − issued")
    per_user_limit: int
    valid_from: datetime
    valid_to: datetime
    valid_days: int | None
    product_ids: list[int] | None
    claimable: bool
    created_at: datetime


class TemplateList(BaseModel):
    items: list[TemplatePublic]
    next_cursor: str | None


class TemplatePath(BaseModel):
    template_id: Id


class CouponPublic(BaseModel):
    id: int
    template: TemplatePublic
    status: Literal["unused", "used", "expired"]
    claimed_at: datetime
    expires_at: datetime
    used_at: datetime | None
    leader_id: int | None = Field(description="the leader who granted it; none: claimed")


class CouponList(BaseModel):
    items: list[CouponPublic]
    next_cursor: str | None


class MyCouponsQuery(PageQuery):
    status: Literal["unused", "used", "expired"] | None = None


class QuotaBody(JsonBody):
    leader_id: Id
    quota: int = Field(ge=0, le=10_000_000)


class QuotaPublic(BaseModel):
    template_id: int
    leader_id: int
    quota: int
    granted: int
    quota_left: int
    updated_at: datetime


class GrantBody(JsonBody):
    template_id: Id
    segment: Segment = Field(description="which of my fans (as GET /leader/fans): all, new, active, lapsed")


class GrantOut(BaseModel):
    id: int
    template_id: int
    segment: str
    granted: int = Field(description="fans who got one now (one each; fans who hold one already are skipped)")
    quota_left: int


class LeaderQuota(BaseModel):
    template: TemplatePublic
    quota: int
    granted: int
    quota_left: int


class LeaderQuotaList(BaseModel):
    items: list[LeaderQuota]


class DiscountedOrder(BaseModel):
    id: int
    buyer_id: int
    leader_id: int
    status: str
    total: int
    coupon_id: int
    coupon_discount: int
    created_at: datetime


class TemplateStats(TemplatePublic):
    unused: int = Field(description="issued and still usable")
    used: int = Field(description="on an order now (unpaid or kept)")
    expired: int
    orders: int = Field(description="orders it discounted and that were kept (not cancelled or refunded)")
    discount_total: Fen = Field(description="fen it took off those orders")
    recent_orders: list[DiscountedOrder] = Field(description="the latest 50 orders it went on, whatever became of them")
    leaders: list[QuotaPublic] = Field(description="per leader: quota and how much of it is granted")
