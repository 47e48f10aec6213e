from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from app.http import Id, JsonBody, QueryModel


class FlashSaleCreate(JsonBody):
    """A flash sale. Rules across fields (422 invalid_window): `ends_at` after `starts_at`, and not in the past."""

    sku_id: Id
    price: int = Field(ge=1, le=10**10, description="fen")
    stock: int = Field(ge=1, le=1_000_000)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    per_user_limit: int = Field(ge=1, le=99)


class FlashSalePublic(BaseModel):
    id: int
    sku_id: int
    price: int
    stock: int
    stock_left: int
    per_user_limit: int
    starts_at: datetime
    ends_at: datetime


class FlashSaleList(BaseModel):
    items: list[FlashSalePublic]


class FlashSaleQuery(QueryModel):
    status: Literal["upcoming", "active"] | None = None


class FlashSalePath(BaseModel):
    sale_id: Id


class PurchaseBody(JsonBody):
    qty: int = Field(default=1, ge=1, le=99)
    pickup_point_id: Id | None = None


class PurchaseOut(BaseModel):
    reservation_id: str
    status: Literal["pending"]


class ReservationPath(BaseModel):
    reservation_id: str = Field(pattern=r"^[1-9][0-9]{0,9}-[1-9][0-9]{0,15}$", max_length=27)


class ReservationOut(BaseModel):
    status: Literal["pending", "confirmed", "failed"]
    order_id: int | None = None
    reason: str | None = Field(default=None, description=(
        "failed: why, e.g. sold_out or sale_closed (the database refused what Redis let through), or "
        "lost_by_redis (the sale's Redis lost the reservation before it became an order; its units went back "
        "on sale and the buyer may buy again)"))


class FlashSaleStats(FlashSalePublic):
    reserved: int = Field(description="units taken in Redis (stock − stock_left)")
    confirmed: int = Field(description="units that became orders")
    paid: int
    expired: int = Field(description="units of orders left unpaid past pay_before")
    returned: int = Field(description="units of cancelled or refunded (unshipped) orders, back to the sale")
    returned_to_sku: int = Field(description="unsold units given back to the SKU when the sale ended")
    settled_at: datetime | None


class FlashSaleAdmin(FlashSaleStats):
    state: Literal["upcoming", "running", "ended"]


class FlashSaleAdminList(BaseModel):
    items: list[FlashSaleAdmin]
    next_cursor: str | None
