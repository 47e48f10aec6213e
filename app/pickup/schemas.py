from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.http import Id, JsonBody, Name, QueryModel

CoordType = Literal["gcj02", "wgs84"]


class NearbyQuery(QueryModel):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    radius_m: int = Field(default=3000, ge=1, le=5000)
    limit: int = Field(default=20, ge=1, le=100)
    coord_type: CoordType = "gcj02"


class LeaderBrief(BaseModel):
    id: int
    nickname: str


class NearbyItem(BaseModel):
    id: int
    name: str
    address: str
    lat: float
    lng: float
    distance_m: int
    service_radius_m: int
    leader: LeaderBrief


class NearbyOut(BaseModel):
    items: list[NearbyItem]


class PickupPointPublic(BaseModel):
    id: int
    name: str
    address: str
    lat: float
    lng: float
    service_radius_m: int
    opening_hours: str | None
    active: bool
    leader: LeaderBrief


class PickupPointPath(BaseModel):
    point_id: Id


class LeaderPickupPointUpdate(JsonBody):
    """What a leader may change about their own point. Opening or closing it (`active`) is an
    operator's decision: sending it is refused (422), not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    name: Name[100] | None = None
    address: Name[255] | None = None
    service_radius_m: int | None = Field(default=None, ge=500, le=5000)
    opening_hours: Name[100] | None = None


class PickupPointUpdate(LeaderPickupPointUpdate):
    """An operator's change: anything a leader may change, and opening or closing the point."""

    model_config = ConfigDict(extra="ignore")  # as every other body: unknown keys are ignored

    active: bool | None = None
