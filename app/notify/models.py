from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from app.db import ts_field


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    # The API calls it `kind` (order.updated, group.succeeded, manifest.ready, ...).
    event: str = Field(max_length=40)
    # What a person reads in a list of notifications; `data` is for the client's own use.
    title: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})
    body: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = ts_field(default_now=True)
    read_at: datetime | None = ts_field()
