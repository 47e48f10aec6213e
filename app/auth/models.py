from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.db import ts_field


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    openid: str = Field(max_length=128, unique=True)
    unionid: str | None = Field(default=None, max_length=128)
    nickname: str = Field(default="", max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    is_admin: bool = False
    # No foreign key: users → pickup_points → leaders → users would be a cycle; the service checks it.
    pickup_point_id: int | None = Field(default=None, index=True)
    created_at: datetime = ts_field(default_now=True)
