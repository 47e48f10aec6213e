from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.db import ts_field


class User(SQLModel, table=True):
    __tablename__ = "users"
    # A point's buyers by id (GET /leader/fans pages by id within a point: a (pickup_point_id) index
    # alone leaves every page to sort all of the point's buyers on PostgreSQL), with bound_at so that
    # the `new` segment tests it in the index instead of reading every fan's row.
    __table_args__ = (Index("ix_users_point_id", "pickup_point_id", "id", "bound_at"),)

    id: int | None = Field(default=None, primary_key=True)
    openid: str = Field(max_length=128, unique=True)
    unionid: str | None = Field(default=None, max_length=128)
    nickname: str = Field(default="", max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    is_admin: bool = False
    # No foreign key: users → pickup_points → leaders → users would be a cycle; the service checks it.
    pickup_point_id: int | None = None
    # When pickup_point_id last changed (a leader's "new" fans are those bound in the last days).
    bound_at: datetime | None = ts_field()
    created_at: datetime = ts_field(default_now=True)
