"""The order domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict, NotFound, Unprocessable


class OrderNotFound(NotFound):
    code = "order_not_found"


class NoPickupPoint(Unprocessable):
    code = "no_pickup_point"


class PaymentExpired(Conflict):
    code = "payment_expired"


class UnknownCode(NotFound):
    code = "unknown_code"


class QtyLimitExceeded(Conflict):
    code = "qty_limit_exceeded"


class TooManyUnpaidOrders(Conflict):
    code = "too_many_unpaid_orders"


class PickupCodesExhausted(Conflict):
    code = "pickup_code_unavailable"


class PointsOverLimit(Unprocessable):
    """More points than LINLI_POINTS_MAX_RATIO of the order's total: a request that can never be
    right for this basket (422), unlike a short balance (409 insufficient_points)."""
    code = "points_over_limit"


class UnitsAlreadyRefunded(Conflict):
    code = "units_already_refunded"

