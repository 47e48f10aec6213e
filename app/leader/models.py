from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from app.db import ts_field


class LeaderApplication(SQLModel, table=True):
    __tablename__ = "leader_applications"
    # One pending application per user, whatever races: the database decides (apply relies on it).
    __table_args__ = (Index("uq_leader_applications_user_pending", "user_id", unique=True,
                            sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    real_name: str = Field(max_length=64)
    phone: str = Field(max_length=32)
    point_name: str = Field(max_length=100)
    point_address: str = Field(max_length=255)
    lat: float
    lng: float
    service_radius_m: int = 3000
    opening_hours: str | None = Field(default=None, max_length=100)
    status: str = Field(default="pending", max_length=16, index=True)
    reason: str | None = Field(default=None, max_length=500)
    leader_id: int | None = Field(default=None, foreign_key="leaders.id")
    created_at: datetime = ts_field(default_now=True)
    decided_at: datetime | None = ts_field()


class Leader(SQLModel, table=True):
    __tablename__ = "leaders"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", unique=True)
    real_name: str = Field(max_length=64)
    phone: str = Field(max_length=32)
    # Basis points (1000 = 10%); None means "the platform default" (LINLI_COMMISSION_RATE).
    commission_rate_bp: int | None = None
    active: bool = True
    created_at: datetime = ts_field(default_now=True)
