"""The workbench's own table: what a leader reported missing from a delivery."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from app.db import ts_field


class DeliveryShortage(SQLModel, table=True):
    """Units of a SKU the leader found missing from a delivery to their point: the running TOTAL
    reported, which only ever grows (by a conditional UPDATE from the value last seen), so a
    report refunds exactly what it adds to it and two reports never refund the same units."""

    __tablename__ = "delivery_shortages"

    delivery_date: date = Field(primary_key=True)
    pickup_point_id: int = Field(primary_key=True, foreign_key="pickup_points.id")
    sku_id: int = Field(primary_key=True, foreign_key="skus.id")
    missing_qty: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = ts_field(default_now=True)
