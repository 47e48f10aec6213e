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


def drain_flash_sales_job(max_seconds: float = 50.0) -> int:
    """Drain every live sale's reservations for up to max_seconds (the scheduler's fallback for
    a deployment that runs no `linli flash-sales drain` loop)."""
    deadline = time.monotonic() + max_seconds
    total = 0
    for sale_id in flows.live_sale_ids():
        if time.monotonic() > deadline:
            break
        total += flows.drain_sale(sale_id, consumer="rq")
    return total


# How often the drain loop asks the flash-sale Redis whether it is still the same one.
INCARNATION_CHECK_S = 1.0


def reconcile_after_restart(seen: str | None) -> str | None:
    """The Redis's run_id now; when it is not the one `seen` before, Redis restarted or failed
    over and may have lost its last writes (AOF everysec: up to a second; a replica: its lag):
    every live sale is reconciled at once, so that its reservation counter restarts above every
    number the database granted before more purchases are taken from a counter that went back."""
    now = flows.redis_incarnation()
    if seen is not None and now is not None and now != seen:
        log.warning("flash-sale Redis restarted (run_id %s -> %s): reconciling every live sale", seen, now)
        for sale_id in flows.live_sale_ids():
            flows.reconcile(sale_id)
    return now


def drain_forever(*, consumer: str | None = None, idle_sleep_s: float = 0.05, min_idle_ms: int = 30_000,
                  stop=lambda: False) -> None:
    """`linli flash-sales drain`: one loop over every live sale's stream, in batches; and, once a
    second, a reconcile of every live sale when the Redis restarted (reconcile_after_restart)."""
    consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
    incarnation, checked = reconcile_after_restart(None), time.monotonic()
    while not stop():
        if time.monotonic() - checked >= INCARNATION_CHECK_S:
            try:
                incarnation = reconcile_after_restart(incarnation)
            except Exception:  # noqa: BLE001 - Redis or the database away: the next check tries again
                log.warning("flash-sale Redis check failed", exc_info=True)
            checked = time.monotonic()
        n = 0
        for sale_id in flows.live_sale_ids():
            n += flows.drain_sale(sale_id, consumer=consumer, min_idle_ms=min_idle_ms)
        if not n:
            time.sleep(idle_sleep_s)
