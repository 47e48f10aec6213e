from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import ts_field


class WarehouseManifest(SQLModel, table=True):
    """One per delivery date. Its row is also the build's lock: every build of a date first
    takes it (the unique key makes the first insert win), so two builds never interleave."""

    __tablename__ = "warehouse_manifests"

    id: int | None = Field(default=None, primary_key=True)
    delivery_date: date = Field(unique=True)
    version: int = 0  # 0: the row exists (a build started) but nothing was ever built
    built_at: datetime | None = ts_field()
    order_count: int = 0
    point_count: int = 0


class PointManifest(SQLModel, table=True):
    """One per (delivery date, pickup point) that has shipped orders; version goes up by one
    each time a rebuild adds orders to this point."""

    __tablename__ = "point_manifests"
    __table_args__ = (UniqueConstraint("delivery_date", "pickup_point_id"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_date: date
    pickup_point_id: int = Field(foreign_key="pickup_points.id", index=True)
    version: int = 1
    built_at: datetime = ts_field(nullable=False)
    order_count: int = 0
    # The version its leader was told about: the notification job claims versions above it.
    notified_version: int = 0


class ManifestLine(SQLModel, table=True):
    """Units of a SKU shipped to a point: the point's receiving list, and, read by SKU, the
    warehouse's picking list with its split by point (the same numbers, so stored once)."""

    __tablename__ = "manifest_lines"
    # On SQLite the primary key is the table (no rowid B-tree beside it): half the writes.
    __table_args__ = {"sqlite_with_rowid": False}

    delivery_date: date = Field(primary_key=True)
    pickup_point_id: int = Field(primary_key=True)
    sku_id: int = Field(primary_key=True)
    name: str = Field(max_length=201)
    qty: int
