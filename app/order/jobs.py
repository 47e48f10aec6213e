from __future__ import annotations

import logging

from app.db import transaction, utcnow
from app.order import transitions as order_transitions

log = logging.getLogger(__name__)


def expire_order_job(order_id: int) -> bool:
    """Cancel an order left unpaid past pay_before; does nothing if it was paid or cancelled."""
    with transaction() as s:
        return order_transitions.expire_if_due(s, order_id=order_id)


def expire_overdue_orders_job(batch: int = 1000) -> int:
    """The periodic sweep: cancels every order left unpaid past pay_before, whether its timer
    job was lost, never enqueued (Redis down at the commit) or is simply behind. Set-based, in
    batches of short transactions, so a backlog after a big sale clears in seconds without
    holding locks (or SQLite's write lock) for long."""
    now = utcnow()
    expired = 0
    while True:
        with transaction() as s:
            n = order_transitions.expire_overdue_batch(s, now=now, limit=batch)
        expired += n
        if n < batch:
            break
    if expired:
        log.info("expiry sweep cancelled %d unpaid orders", expired)
    return expired
