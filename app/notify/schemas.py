from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.http import Id, JsonBody
from app.pagination import PageQuery


class NotificationQuery(PageQuery):
    unread: bool = Field(default=False, description="true: only those not read yet")


class NotificationPublic(BaseModel):
    id: int
    kind: str = Field(description="order.updated, chat.unread, leader.approved, ...")
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class NotificationList(BaseModel):
    items: list[NotificationPublic]
    next_cursor: str | None = None
    unread_count: int


class ReadNotifications(JsonBody):
    up_to_id: Id


class ReadNotificationsResult(BaseModel):
    marked: int
    unread_count: int
