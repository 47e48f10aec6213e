from __future__ import annotations

import logging

from app.db import transaction, utcnow
from app.order import service as order_service

log = logging.getLogger(__name__)


def expire_order_job(order_id: int) -> bool:
    """Cancel an order left unpaid past pay_before; does nothing if it was paid or cancelled."""
    with transaction() as s:
        return order_service.expire_if_due(s, order_id=order_id)


def expire_overdue_orders_job() -> int:
    """The periodic sweep: catches any expiry whose timer job was lost."""
    now = utcnow()
    expired = 0
    with transaction() as s:
        ids = order_service.overdue_unpaid_ids(s, now=now)
    for order_id in ids:  # one short transaction each, so a sweep never holds locks for long
        with transaction() as s:
            expired += order_service.expire_if_due(s, order_id=order_id, now=now)
    if expired:
        log.info("expiry sweep cancelled %d unpaid orders", expired)
    return expired
