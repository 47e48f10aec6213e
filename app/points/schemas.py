from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.pagination import PageQuery


class PointEntryOut(BaseModel):
    amount: int = Field(description="+ earned or given back, - spent or reversed (1 point = 1 fen)")
    reason: str = Field(description="order_spend, points_back, shortage:<value>, share_reward, reward_reversed")
    order_id: int | None
    created_at: datetime


class MyPoints(BaseModel):
    balance: int
    items: list[PointEntryOut] = Field(description="Newest first")
    next_cursor: str | None


class MyPointsQuery(PageQuery):
    pass
