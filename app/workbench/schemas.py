from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from app.http import Id, IsoDate, JsonBody, QueryModel
from app.order.rules import LIVE as COUNTED_STATUSES
from app.pagination import PageQuery
from app.workbench.fans import Segment

# ---- the leader's workbench ---------------------------------------------------------------

OrderStatusName = Literal["pending_payment", "paid", "shipped", "arrived", "picked_up", "cancelled", "refunded"]


class LeaderOrdersQuery(PageQuery):
    delivery_date: IsoDate | None = None
    status: OrderStatusName | None = None


class SummaryQuery(QueryModel):
    delivery_date: IsoDate | None = Field(default=None, description="Default: today (business time zone)")


class SummaryLine(BaseModel):
    sku_id: int
    name: str
    qty: int


class Summary(BaseModel):
    delivery_date: date
    order_count: int
    counted_statuses: list[OrderStatusName] = Field(
        default_factory=lambda: list(COUNTED_STATUSES),
        description="The statuses order_count, lines and total count (unpaid, cancelled and refunded orders "
                    "are not goods to receive); GET /leader/orders lists every status")
    lines: list[SummaryLine]
    total: int
    commission_expected: int


class DeliveryPath(BaseModel):
    delivery_date: IsoDate


class Received(BaseModel):
    arrived: int


class PickupBody(JsonBody):
    pickup_code: str = Field(pattern=r"^[0-9]{6}$")
    delivery_date: IsoDate | None = None


class CommissionQuery(PageQuery):
    status: Literal["pending", "settled", "reversed"] | None = None


class CommissionEntry(BaseModel):
    id: int
    order_id: int
    amount: int
    rate_bp: int
    status: Literal["pending", "settled", "reversed"]
    settle_at: datetime
    created_at: datetime
    settled_at: datetime | None
    reversed_at: datetime | None


class CommissionTotals(BaseModel):
    pending: int
    settled: int
    reversed: int
    earned: int


class CommissionList(BaseModel):
    items: list[CommissionEntry]
    totals: CommissionTotals
    next_cursor: str | None


class ShortageLine(JsonBody):
    sku_id: Id
    missing_qty: int = Field(ge=0, le=1_000_000, description=(
        "The TOTAL units of this SKU missing from the delivery so far (not an increment): a report "
        "refunds only what it adds to the total already recorded"))


class ShortageBody(JsonBody):
    lines: list[ShortageLine] = Field(min_length=1, max_length=200)

    @field_validator("lines")
    @classmethod
    def _one_line_per_sku(cls, lines: list[ShortageLine]) -> list[ShortageLine]:
        skus = [x.sku_id for x in lines]
        if len(skus) != len(set(skus)):
            raise ValueError("each sku_id at most once (missing_qty is the SKU's total)")
        return lines


class ShortageUnits(BaseModel):
    sku_id: int
    name: str
    qty: int = Field(description="Units of this SKU refunded on this order by this report")


class ShortageRefundOut(BaseModel):
    order_id: int
    amount: int = Field(description="Fen refunded on this order by this report (unit_price × units)")
    items: list[ShortageUnits]


class ShortageResult(BaseModel):
    refunds: list[ShortageRefundOut] = Field(description="Orders refunded by this report, latest paid first; "
                                                         "empty when it adds nothing to what was recorded")


class FansQuery(PageQuery):
    segment: Segment = Field(
        default="all", description="`new`, `active`, `lapsed` or `all` (see the operation's description)")


class FanPublic(BaseModel):
    user_id: int
    nickname: str
    bound_at: datetime | None = Field(description="When the buyer bound to my point")
    order_count: int = Field(description="Their orders at my point that reached paid")
    total_spent: int = Field(description="Fen, those orders' totals less the units refunded for shortages")
    last_order_at: datetime | None = Field(description="When the latest of those orders was placed")


class FanList(BaseModel):
    items: list[FanPublic]
    next_cursor: str | None = None
