from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from app.db import ts_field


class Product(SQLModel, table=True):
    __tablename__ = "products"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=5000)
    images: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    on_sale: bool = Field(default=True, index=True)
    created_at: datetime = ts_field(default_now=True)


class Sku(SQLModel, table=True):
    __tablename__ = "skus"
    # The database itself refuses oversell, whatever code path writes the row.
    __table_args__ = (CheckConstraint("stock >= 0", name="stock_non_negative"),
                      CheckConstraint("price >= 0", name="price_non_negative"))

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="products.id", index=True)
    name: str = Field(max_length=100)
    # 64-bit: money and stock multiply (price × qty) and add up (stock_delta) past 2**31.
    price: int = Field(sa_type=BigInteger)  # fen
    stock: int = Field(default=0, sa_type=BigInteger)  # units available to order
    active: bool = True
    created_at: datetime = ts_field(default_now=True)
