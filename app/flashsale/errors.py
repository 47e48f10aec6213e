"""The flashsale domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Forbidden, NotFound, Unprocessable


class FlashSaleNotFound(NotFound):
    code = "flash_sale_not_found"


class ReservationNotFound(NotFound):
    code = "reservation_not_found"


class UserBlocked(Forbidden):
    code = "user_blocked"


class PurchaseRateLimited(Exception):
    def __init__(self, wait_ms: int):
        super().__init__(wait_ms)
        self.wait_ms = wait_ms


class BadWindow(Unprocessable):
    code = "invalid_window"


class OutOfNumbers(Exception):
    """The reservation numbers the database granted the sale are used up (not an answer: the
    purchase raises the ceiling in the database and runs again)."""

    def __init__(self, ceiling: int):
        super().__init__(ceiling)
        self.ceiling = ceiling
