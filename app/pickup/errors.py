"""The pickup domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict, NotFound


class PickupPointNotFound(NotFound):
    code = "pickup_point_not_found"


class PickupPointUnavailable(Conflict):
    """The point exists but is closed or its leader suspended: its buyers are told why."""
    code = "pickup_point_unavailable"
