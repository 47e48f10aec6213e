from __future__ import annotations

import logging
import os
import socket
import time

from app.flashsale import flows

log = logging.getLogger(__name__)


def settle_flash_sale_job(sale_id: int) -> int | None:
    """At the sale's end: the unsold units go back to the SKU (once; safe to run twice)."""
    return flows.settle(sale_id)


def settle_due_flash_sales_job() -> int:
    """The sweep behind the per-sale timer (lost, or Redis down when the sale was created)."""
    return flows.settle_due()


def drain_flash_sales_job(max_seconds: float = 5.0) -> int:
    """Drain every live sale's reservations for up to max_seconds (the scheduler's fallback
    behind the workers' own drainer, app/clockwork.py; short, so it never holds the only worker
    for long while timer jobs wait behind it)."""
    deadline = time.monotonic() + max_seconds
    total = 0
    for sale_id in flows.live_sale_ids():
        if time.monotonic() > deadline:
            break
        total += flows.drain_sale(sale_id, consumer="rq")
    return total


def drain_forever(*, consumer: str | None = None, idle_sleep_s: float = 0.05, min_idle_ms: int = 30_000,
                  stop=lambda: False) -> None:
    """`linli flash-sales drain`: one loop over every live sale's stream, in batches."""
    consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
    while not stop():
        n = 0
        for sale_id in flows.live_sale_ids():
            n += flows.drain_sale(sale_id, consumer=consumer, min_idle_ms=min_idle_ms)
        if not n:
            time.sleep(idle_sleep_s)
