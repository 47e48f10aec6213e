from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.http import Id, JsonBody, Name, Price
from app.pagination import PageQuery

EntryKindName = Literal["recharge", "payment", "refund", "recharge_refund", "pay_code", "pay_code_refund", "adjust"]


class PackageCreate(JsonBody):
    name: Name[50]
    pay_amount: Price = Field(description="What the buyer pays, fen (充100: 10000)")
    bonus_amount: int = Field(default=0, ge=0, le=100_000_000, description="What is given on top, fen (送10: 1000)")
    active: bool = True


class PackagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    pay_amount: int
    bonus_amount: int
    active: bool


class PackageList(BaseModel):
    items: list[PackagePublic]


class RechargeCreate(JsonBody):
    package_id: Id


class RechargePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    status: Literal["pending_payment", "paid", "refunded"]
    package_id: int
    pay_amount: int
    bonus_amount: int
    created_at: datetime
    paid_at: datetime | None
    refunded_at: datetime | None


class WalletPaymentInfo(BaseModel):
    provider: str
    params: dict


class RechargeOut(BaseModel):
    recharge: RechargePublic
    payment: WalletPaymentInfo


class RechargePath(BaseModel):
    recharge_id: Id


class LevelCreate(JsonBody):
    name: Name[30]
    min_growth: int = Field(ge=0, le=1_000_000_000)
    discount_percent: int = Field(ge=0, le=30, description="Taken off ordinary lines at order time, percent")


class LevelPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    min_growth: int
    discount_percent: int


class LevelList(BaseModel):
    items: list[LevelPublic]


class WalletPublic(BaseModel):
    balance: int = Field(description="principal + bonus, fen")
    principal: int = Field(description="Paid in by me, fen; spent first")
    bonus: int = Field(description="Given by recharge packages, fen; spent after principal, never refunded as cash")
    growth: int = Field(description="1 per yuan paid on picked-up orders")
    level: LevelPublic | None


class EntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    amount: int = Field(description="Signed, fen: principal + bonus")
    principal: int
    bonus: int
    kind: EntryKindName
    balance_after: int
    order_id: int | None = None
    ref: str | None = None
    created_at: datetime


class EntryList(BaseModel):
    items: list[EntryPublic]
    next_cursor: str | None


class PayCodeOut(BaseModel):
    code: str = Field(description="18 digits; show as QR code and barcode")
    expires_at: datetime


class ChargeCreate(JsonBody):
    code: str = Field(pattern=r"^[0-9]{18}$", description="The buyer's pay code, 18 digits (scanned or typed)")
    amount: Price
    note: Name[100] | None = None


class BuyerName(BaseModel):
    nickname: str


class ChargePublic(BaseModel):
    id: int
    buyer: BuyerName
    amount: int
    balance_after: int | None = Field(description="The buyer's balance right after the charge (or its refund)")
    status: Literal["charged", "refunded"]
    note: str | None
    business_date: date
    created_at: datetime
    refunded_at: datetime | None


class ChargeList(BaseModel):
    items: list[ChargePublic]
    next_cursor: str | None


class ChargePath(BaseModel):
    charge_id: Id


class EntryQuery(PageQuery):
    pass
