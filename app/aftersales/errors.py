"""The after-sales domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict, NotFound, Unprocessable


class AfterSaleNotFound(NotFound):
    code = "after_sale_not_found"


class AfterSaleWindowClosed(Conflict):
    code = "after_sale_window_closed"


class AfterSaleOpen(Conflict):
    """The order already has a request being decided."""
    code = "after_sale_open"


class UnknownAfterSaleReason(Unprocessable):
    code = "unknown_after_sale_reason"


class AfterSaleItemsInvalid(Unprocessable):
    """A SKU not in the order, or more units than it has left (not refunded)."""
    code = "after_sale_items_invalid"


class AfterSaleNotDecidable(Conflict):
    """Not in a status this decision applies to (already decided, or not yours to decide yet)."""
    code = "invalid_state"
