"""The workbench's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict


class ShortageExceedsDelivery(Conflict):
    code = "shortage_exceeds_delivery"


class ShortageBusy(Conflict):
    code = "shortage_busy"
