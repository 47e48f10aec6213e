from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.http import IsoDate, QueryModel

# The same operation answers JSON, CSV or PDF (?format=): the document says so.
_DOCUMENTS = {"openapi_extra": {"content": {
    "text/csv": {"schema": {"type": "string"}},
    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}


class ManifestPath(BaseModel):
    delivery_date: IsoDate


class ManifestQuery(QueryModel):
    format: Literal["json", "csv", "pdf"] = Field(
        default="json", description="json, csv (UTF-8 with BOM, for spreadsheets) or pdf (A4, for printing)")


class Line(BaseModel):
    sku_id: int
    name: str = Field(description="Product name and SKU name, e.g. 麒麟西瓜 一个装约4斤")
    qty: int


class PickupPointBrief(BaseModel):
    id: int
    name: str


class Buyer(BaseModel):
    nickname: str
    phone: str | None = Field(description="Masked (139****0000), or null when the buyer gave none")


class PickupLine(Line):
    qty: int = Field(description="Units to hand over: what was ordered less what was refunded since")
    ordered_qty: int = Field(description="Units ordered")
    refunded_qty: int = Field(description="Units refunded (a shortage, after-sales, an operator): not to hand over")
    refunded: bool = Field(description="True when units of this line were refunded (all of them when qty is 0)")


class Pickup(BaseModel):
    order_id: int
    buyer: Buyer
    note: str | None = Field(default=None, description="The buyer's note on the order")
    status: str = Field(description="shipped, arrived or picked_up (orders refunded in full are left out)")
    items: list[PickupLine]


class PointManifestPublic(BaseModel):
    model_config = ConfigDict(**_DOCUMENTS)

    delivery_date: date
    pickup_point: PickupPointBrief
    version: int = Field(description="Goes up by one each time a rebuild adds orders to this point; 0: no orders")
    built_at: datetime
    receiving: list[Line] = Field(description="SKU totals, to check the delivery against")
    pickups: list[Pickup] = Field(description=(
        "Per order, sorted by the buyer's phone's last four digits; read live, so units refunded since the build "
        "are shown as refunded and orders refunded in full are left out"))


class PointQty(BaseModel):
    pickup_point_id: int
    name: str
    qty: int


class PickingSku(BaseModel):
    sku_id: int
    name: str
    total: int
    by_point: list[PointQty]


class WarehouseManifestPublic(BaseModel):
    model_config = ConfigDict(**_DOCUMENTS)

    delivery_date: date
    version: int
    built_at: datetime
    skus: list[PickingSku]


class BuildResult(BaseModel):
    delivery_date: date
    version: int = Field(description="The warehouse manifest's version after the build")
    built_at: datetime | None
    points: int = Field(description="Pickup points with a manifest for the date")
    points_changed: int = Field(description="Of which got a new version in this build")
    orders: int = Field(description="Orders on the date's manifests")
    orders_shipped: int = Field(description="Orders this build moved from paid to shipped")
