"""The catalog domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict, NotFound


class ProductNotFound(NotFound):
    code = "product_not_found"


class SkuNotFound(NotFound):
    code = "sku_not_found"


class OutOfStock(Conflict):
    code = "out_of_stock"


class SkuUnavailable(Conflict):
    code = "sku_unavailable"
