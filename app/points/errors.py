"""The points domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict


class InsufficientPoints(Conflict):
    code = "insufficient_points"
