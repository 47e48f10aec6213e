from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.http import Id, IsoDate, JsonBody, MultilineText, Name, OptionalJsonBody
from app.pagination import PageQuery

OrderStatusName = Literal["pending_payment", "paid", "shipped", "arrived", "picked_up", "cancelled", "refunded"]


class ItemIn(JsonBody):
    sku_id: Id
    qty: int = Field(ge=1, le=999)


class OrderCreate(JsonBody):
    items: list[ItemIn] = Field(min_length=1, max_length=50)
    pickup_point_id: Id | None = Field(default=None, description=(
        "Where to pick the order up. Omitted: the pickup point I am bound to (PUT /me/pickup-point); "
        "with neither, 422 no_pickup_point."))
    note: MultilineText[200] | None = None
    points_to_use: int = Field(default=0, ge=0, le=100_000_000, description=(
        "Points to pay part of the order with (1 point = 1 fen): at most LINLI_POINTS_MAX_RATIO (0.5) of the "
        "order's total (422 points_over_limit) and never more than my balance (409 insufficient_points)."))
    coupon_id: Id | None = Field(default=None, description=(
        "One of my unused coupons (GET /me/coupons): its discount comes off the goods after the member discount, "
        "before points (coupon_discount). 404 coupon_not_found; 409 coupon_used, coupon_expired, "
        "coupon_not_yet_valid; 422 coupon_min_spend_not_met, coupon_not_applicable (no item in its product scope)."))


class ItemOut(BaseModel):
    sku_id: int
    name: str = Field(description="Product name and SKU name, e.g. 麒麟西瓜 一个装约4斤")
    product_name: str
    sku_name: str
    qty: int
    unit_price: int
    amount: int
    refunded_qty: int = Field(default=0, description=(
        "Units given back (missing from the delivery, an after-sales refund, an operator's refund by line), each "
        "refunded at unit_price: not to be handed over (qty - refunded_qty are)"))


class OrderPublic(BaseModel):
    id: int
    status: OrderStatusName
    source: Literal["plain", "flash_sale", "group", "bargain"]
    source_ref: str | None
    items: list[ItemOut]
    total: int = Field(description="What is paid (fen): the goods' value less member_discount, coupon_discount "
                                    "and points_used")
    points_used: int = Field(default=0, description="Points spent on the order (1 point = 1 fen)")
    member_discount: int = Field(default=0, description="My member level's discount on the order's ordinary lines "
                                                        "(fen), already taken off total")
    coupon_id: int | None = Field(default=None, description="The coupon used on the order, if any")
    coupon_discount: int = Field(default=0, description="What the coupon took off the goods (fen), after the "
                                                        "member discount")
    share_token: str | None = Field(default=None, description="The share that brought the order, if any")
    delivery_date: date | None
    pickup_point_id: int
    note: str | None
    pay_before: datetime | None
    pickup_code: str | None = Field(description="6 digits; present once the order is paid and dated")
    created_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    arrived_at: datetime | None
    picked_up_at: datetime | None
    cancelled_at: datetime | None
    refunded_at: datetime | None


class OrderList(BaseModel):
    items: list[OrderPublic]
    next_cursor: str | None


class OrderQuery(PageQuery):
    status: OrderStatusName | None = None


OrderSourceName = Literal["plain", "flash_sale", "group", "bargain"]


class AdminOrderQuery(PageQuery):
    """The operator's order search: every filter given narrows the list."""

    order_id: Id | None = None
    buyer_id: Id | None = None
    phone_tail: str | None = Field(default=None, pattern=r"^[0-9]{4,11}$",
                                   description="The last digits (4 to 11) of the buyer's phone number")
    pickup_point_id: Id | None = None
    delivery_date: IsoDate | None = None
    status: OrderStatusName | None = None
    source: OrderSourceName | None = None


class OrderPath(BaseModel):
    order_id: Id


class PaymentInfo(BaseModel):
    provider: str
    params: dict


class PayBody(OptionalJsonBody):
    method: Literal["wechatpay", "wallet"] | None = Field(default=None, description=(
        "wechatpay (the default: the configured provider, the sandbox in development) or wallet: paid at once "
        "from my wallet's balance (409 insufficient_balance)"))


class PayOut(BaseModel):
    order: OrderPublic
    payment: PaymentInfo


class BuyerBrief(BaseModel):
    id: int
    nickname: str


class LeaderOrder(BaseModel):
    id: int
    status: OrderStatusName
    source: str
    items: list[ItemOut]
    total: int
    delivery_date: date | None
    note: str | None
    buyer: BuyerBrief
    created_at: datetime
    paid_at: datetime | None
    arrived_at: datetime | None
    picked_up_at: datetime | None


class LeaderOrderList(BaseModel):
    items: list[LeaderOrder]
    next_cursor: str | None


class RefundLineIn(JsonBody):
    sku_id: Id
    qty: int = Field(ge=1, le=999)


class AdminRefundBody(JsonBody):
    reason: Name[64] = "after_sales"
    lines: list[RefundLineIn] | None = Field(default=None, min_length=1, max_length=50, description=(
        "Refund only these units (per SKU): what was paid for them goes back (points in proportion, the "
        "commission rebased), through the same path as shortages and after-sales; the order stays as it is "
        "unless nothing is left of it. More units than are left: 409 units_already_refunded. Omitted: the "
        "whole order is refunded."))
