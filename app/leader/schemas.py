from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.http import Id, JsonBody, Name, Text
from app.pagination import PageQuery
from app.pickup.schemas import CoordType


class PointApplication(JsonBody):
    name: Name[100]
    address: Name[255]
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    coord_type: CoordType = "gcj02"
    service_radius_m: int = Field(default=3000, ge=500, le=5000)
    opening_hours: Name[100] | None = Field(default=None, examples=["08:00-20:00"])


class ApplicationCreate(JsonBody):
    real_name: Name[64]
    phone: str = Field(pattern=r"^\+?[0-9]{5,20}$")
    pickup_point: PointApplication


class ApplicationCreated(BaseModel):
    id: int
    status: str


ApplicationStatus = Literal["pending", "approved", "rejected"]


class ApplicationPublic(BaseModel):
    id: int
    user_id: int
    status: ApplicationStatus
    real_name: str
    phone: str
    pickup_point: dict
    reason: str | None
    leader_id: int | None
    created_at: datetime
    decided_at: datetime | None


class ApplicationList(BaseModel):
    items: list[ApplicationPublic]
    next_cursor: str | None


class ApplicationQuery(PageQuery):
    status: ApplicationStatus | None = None


class ApplicationPath(BaseModel):
    application_id: Id


class Approved(BaseModel):
    leader_id: int
    pickup_point_id: int


class RejectBody(JsonBody):
    reason: Text[500]


class Rejected(BaseModel):
    id: int
    status: str
    reason: str


class LeaderPath(BaseModel):
    leader_id: Id


class LeaderUpdate(JsonBody):
    commission_rate: float | None = Field(default=None, ge=0, le=0.5, description="e.g. 0.12 for 12%")
    active: bool | None = None


class LeaderPublic(BaseModel):
    id: int
    user_id: int
    real_name: str
    phone: str
    commission_rate: float
    active: bool
