from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.http import Id, JsonBody
from app.pagination import PageQuery

Url = str


class SkuCreate(JsonBody):
    name: str = Field(min_length=1, max_length=100)
    price: int = Field(ge=0, le=100_000_000, description="fen")
    stock: int = Field(ge=0, le=10_000_000)


class ProductCreate(JsonBody):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=5000)
    images: list[Url] | None = Field(default=None, max_length=20)
    on_sale: bool = True
    skus: list[SkuCreate] = Field(min_length=1, max_length=50)


class ProductUpdate(JsonBody):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=5000)
    images: list[Url] | None = Field(default=None, max_length=20)
    on_sale: bool | None = None


class SkuUpdate(JsonBody):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    price: int | None = Field(default=None, ge=0, le=100_000_000)
    stock: int | None = Field(default=None, ge=0, le=10_000_000, description="Set the available stock")
    stock_delta: int | None = Field(default=None, ge=-10_000_000, le=10_000_000,
                                    description="Add (or remove) units atomically, safe beside live orders")
    active: bool | None = None


class SkuPublic(BaseModel):
    id: int
    name: str
    price: int
    stock_available: int
    active: bool = True


class ProductPublic(BaseModel):
    id: int
    name: str
    description: str
    images: list[str]
    on_sale: bool
    skus: list[SkuPublic]
    created_at: datetime


class ProductList(BaseModel):
    items: list[ProductPublic]
    next_cursor: str | None


ProductQuery = PageQuery


class ProductPath(BaseModel):
    product_id: Id


class SkuPath(BaseModel):
    sku_id: Id
