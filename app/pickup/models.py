from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.db import ts_field


class PickupPoint(SQLModel, table=True):
    __tablename__ = "pickup_points"
    # The nearby search is a bounding box on (lat, lng) over active points.
    __table_args__ = (Index("ix_pickup_points_active_lat_lng", "active", "lat", "lng"),)

    id: int | None = Field(default=None, primary_key=True)
    leader_id: int = Field(foreign_key="leaders.id", unique=True)
    name: str = Field(max_length=100)
    address: str = Field(max_length=255)
    lat: float  # GCJ-02
    lng: float
    service_radius_m: int = 3000
    opening_hours: str | None = Field(default=None, max_length=100)
    active: bool = True
    created_at: datetime = ts_field(default_now=True)
