"""The wallet domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict, DomainError, NotFound


class InsufficientBalance(Conflict):
    code = "insufficient_balance"


class BalanceSpent(Conflict):
    """A recharge's principal and bonus are no longer all in the wallet: it cannot be refunded."""

    code = "balance_spent"


class RechargePackageNotFound(NotFound):
    code = "recharge_package_not_found"


class RechargeNotFound(NotFound):
    code = "recharge_not_found"


class MemberLevelExists(Conflict):
    code = "member_level_exists"


class UnknownCode(NotFound):
    code = "unknown_code"


class CodeUsed(Conflict):
    code = "code_used"


class CodeExpired(Conflict):
    code = "code_expired"


class TooManyWrongCodes(DomainError):
    status, code = 429, "too_many_wrong_codes"


class ChargeNotFound(NotFound):
    code = "charge_not_found"


class ChargeRefundClosed(Conflict):
    """A counter sale is refunded on its business day only."""

    code = "charge_refund_closed"


class ChargeRefunded(Conflict):
    code = "charge_already_refunded"
