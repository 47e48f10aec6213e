from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from app.http import Id, JsonBody, OptionalJsonBody, Price


class BargainCreate(JsonBody):
    """A bargain campaign. Rules across fields (422 validation_error, each at its field): `ends_at` after
    `starts_at`; `start_price - floor_price` at least `helpers_needed` fen (every cut is a fen or more)."""

    sku_id: Id
    start_price: Price
    floor_price: Price
    helpers_needed: int = Field(ge=1, le=100)
    duration_s: int = Field(ge=60, le=7 * 86400)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    stock: int | None = Field(default=None, ge=1, le=1_000_000,
                              description="a stock of its own, carved from the SKU's now (omitted: the SKU's)")
    helps_per_day: int | None = Field(default=None, ge=1, le=100,
                                      description="helps per helper per day (omitted: LINLI_BARGAIN_HELPS_PER_DAY)")
    buy_at_any_price: bool = Field(default=True, description="false: the order only once the floor is reached")


class BargainPublic(BaseModel):
    id: int
    sku_id: int
    start_price: int
    floor_price: int
    helpers_needed: int
    duration_s: int
    starts_at: datetime
    ends_at: datetime
    stock: int | None
    stock_left: int | None
    helps_per_day: int | None
    buy_at_any_price: bool


class BargainList(BaseModel):
    items: list[BargainPublic]
    next_cursor: str | None


class BargainAdmin(BargainPublic):
    state: Literal["upcoming", "running", "ended"]
    records_started: int
    orders: int = Field(description="Records that became an order")


class BargainAdminList(BaseModel):
    items: list[BargainAdmin]
    next_cursor: str | None


class HelperPublic(BaseModel):
    nickname: str
    cut: int
    created_at: datetime


class RecordPublic(BaseModel):
    id: int
    campaign_id: int
    start_price: int
    current_price: int
    floor_price: int
    helpers_needed: int
    helpers: list[HelperPublic]
    expires_at: datetime
    status: Literal["active", "completed", "expired"]
    order_id: int | None


class HelpOut(BaseModel):
    cut: int
    current_price: int
    status: Literal["active", "completed", "expired"]


class BargainPath(BaseModel):
    bargain_id: Id


class RecordPath(BaseModel):
    record_id: Id


class RecordOrderBody(OptionalJsonBody):
    pickup_point_id: Id | None = None
