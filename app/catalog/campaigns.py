"""What every time-boxed campaign (flash sale, group-buy, bargain) does as it is created: check its
window, then carve its units out of the SKU, so that no unit is sold both in the campaign and as a
plain order."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from app.catalog import service as catalog_service
from app.errors import field_error


def window_errors(starts_at: datetime, ends_at: datetime) -> list[dict]:
    """The window's problems as validation errors (empty: the window is usable)."""
    if ends_at <= starts_at:
        return [field_error(["body", "ends_at"], "ends_at must be after starts_at")]
    return []


def carve_stock(session: Session, *, sku_id: int, stock: int | None) -> None:
    """The SKU must be on sale; a campaign with its own stock takes it from the SKU now (None: the
    campaign sells from the SKU's stock as it goes)."""
    catalog_service.sellable_skus(session, [sku_id])
    if stock is not None:
        catalog_service.take_stock(session, sku_id=sku_id, qty=stock)
