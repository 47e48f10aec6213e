"""The earnings domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import BadRequest, Conflict, NotFound, Unprocessable


class InsufficientEarnings(Conflict):
    code = "insufficient_earnings"


class WithdrawalBelowMinimum(Unprocessable):
    code = "withdrawal_below_minimum"


class WithdrawalLimitReached(Conflict):
    code = "withdrawal_limit_reached"


class WithdrawalNotFound(NotFound):
    code = "withdrawal_not_found"

class UnknownBill(BadRequest):
    """A transfer notification for a bill number linli never issued."""

    code = "unknown_bill"
