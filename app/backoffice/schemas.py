from __future__ import annotations

from datetime import date as Date
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from app.http import IsoDate, Name
from app.pagination import PageQuery
from app.pickup.schemas import CoordType

PHONE_TAIL = Field(default=None, pattern=r"^[0-9]{4,11}$",
                   description="The last digits (4 to 11) of the leader's phone number")
DAY = Field(default=None, description="The delivery date the figures are for (YYYY-MM-DD); "
                                      "default today in the service's time zone (LINLI_TIMEZONE)")


class LeaderAdminQuery(PageQuery):
    """The operator's leader search: every filter given narrows the list."""

    q: Name[50] | None = Field(default=None, description="Part of the leader's real name or of their point's name")
    phone_tail: str | None = PHONE_TAIL
    status: Literal["active", "suspended"] | None = None
    date: IsoDate | None = DAY


class PointAdminQuery(PageQuery):
    """The operator's pickup point search: every filter given narrows the list."""

    q: Name[50] | None = Field(default=None, description="Part of the point's name or address")
    phone_tail: str | None = PHONE_TAIL
    status: Literal["open", "closed"] | None = None
    lat: float | None = Field(default=None, ge=-90, le=90, description="With lng: only points within radius_m")
    lng: float | None = Field(default=None, ge=-180, le=180, description="With lat: only points within radius_m")
    radius_m: int = Field(default=3000, ge=1, le=50_000, description="The radius around lat/lng, in metres")
    coord_type: CoordType = "gcj02"
    date: IsoDate | None = DAY

    @model_validator(mode="after")
    def _lat_with_lng(self):
        if (self.lat is None) != (self.lng is None):
            raise ValueError("lat and lng go together")
        return self


class DayFiguresOut(BaseModel):
    """The point's figures for one delivery date (the list's `date`)."""

    orders: int = Field(description="Live orders (paid, shipped, arrived, picked up) for the date")
    paid_amount: int = Field(description="fen: what those orders were paid, less units given back")
    picked_up: int = Field(description="Those orders already picked up")
    pending_pickups: int = Field(description="Those orders not yet picked up (paid, shipped or arrived)")
    pickup_rate: float | None = Field(description="picked_up / orders (0..1); null without orders")
    fans: int = Field(description="Buyers bound to the point now (its leader not counted)")
    commission: int = Field(description="fen: the leader's commission on those orders (accrued at pickup; "
                                        "reversed ones not counted)")


class PointBrief(BaseModel):
    id: int
    name: str
    active: bool


class LeaderAdmin(BaseModel):
    id: int
    user_id: int
    real_name: str
    phone: str
    commission_rate: float = Field(description="The leader's rate, or the platform default (0.1 = 10%)")
    active: bool
    status: Literal["active", "suspended"]
    created_at: datetime
    pickup_point: PointBrief | None = Field(description="The leader's point (null: none)")
    figures: DayFiguresOut


class LeaderAdminList(BaseModel):
    items: list[LeaderAdmin]
    next_cursor: str | None
    date: Date = Field(description="The delivery date of every row's figures")


class LeaderContact(BaseModel):
    id: int
    real_name: str
    phone: str
    active: bool


class PointAdmin(BaseModel):
    id: int
    name: str
    address: str
    lat: float
    lng: float
    service_radius_m: int
    opening_hours: str | None
    active: bool
    status: Literal["open", "closed"]
    created_at: datetime
    distance_m: int | None = Field(description="Metres from lat/lng when the search gave them, else null")
    leader: LeaderContact
    figures: DayFiguresOut


class PointAdminList(BaseModel):
    items: list[PointAdmin]
    next_cursor: str | None
    date: Date = Field(description="The delivery date of every row's figures")
