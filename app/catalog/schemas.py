from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.http import HttpsUrl, Id, JsonBody, MultilineText, Name, Price
from app.pagination import PageQuery


class SkuCreate(JsonBody):
    name: Name[100]
    price: Price
    stock: int = Field(ge=0, le=10_000_000)


class ProductCreate(JsonBody):
    name: Name[100]
    description: MultilineText[5000] | None = None
    images: list[HttpsUrl] | None = Field(default=None, max_length=20)
    on_sale: bool = True
    skus: list[SkuCreate] = Field(min_length=1, max_length=50)


class ProductUpdate(JsonBody):
    name: Name[100] | None = None
    description: MultilineText[5000] | None = None
    images: list[HttpsUrl] | None = Field(default=None, max_length=20)
    on_sale: bool | None = None


class SkuUpdate(JsonBody):
    name: Name[100] | None = None
    price: Price | None = None
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
