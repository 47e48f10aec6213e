from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index
from sqlmodel import Field, SQLModel

from app.db import ts_field


class FlashSale(SQLModel, table=True):
    __tablename__ = "flash_sales"
    # The database's own guard behind Redis: units held by live orders never exceed the sale's stock.
    __table_args__ = (
        CheckConstraint("held >= 0 AND held <= stock", name="held_within_stock"),
        CheckConstraint("price >= 0", name="price_non_negative"),
        Index("ix_flash_sales_window", "ends_at", "settled_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sku_id: int = Field(foreign_key="skus.id", index=True)
    price: int = Field(sa_type=BigInteger)  # fen
    stock: int = Field(sa_type=BigInteger)  # units carved out of the SKU
    per_user_limit: int
    starts_at: datetime = ts_field(nullable=False)
    ends_at: datetime = ts_field(nullable=False)
    # Units in live flash orders (pending_payment, paid, ...): raised by the drain, lowered when an
    # order is cancelled or refunded unshipped.
    held: int = Field(default=0, sa_type=BigInteger)
    # Set once, when the unsold rest went back to the SKU (returned_to_sku units).
    settled_at: datetime | None = ts_field()
    returned_to_sku: int = Field(default=0, sa_type=BigInteger)
    # Reservation numbers up to this one may be handed out by Redis (granted here first, a block at
    # a time): after Redis lost its data the counter restarts above it, so no number is reused.
    seq_ceiling: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = ts_field(default_now=True)
