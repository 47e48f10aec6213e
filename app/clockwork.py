"""Time-driven work that must not wait for the RQ queue: every `linli worker` runs two threads
next to its job loop.

- The flash drainer: every LINLI_FLASH_DRAIN_TICK_S it turns the live sales' queued reservations
  into orders (as `linli flash-sales drain` does), so a confirmed reservation becomes an order
  within about a second in every deployment that runs a worker (`make run` included), not when
  the scheduler's periodic drain job next gets a worker.
- The deadline keeper: every LINLI_DEADLINE_TICK_S one worker (a Redis key taken for that tick)
  runs the sweeps for group deadlines, bargain expiry and unpaid-order expiry in this thread.

Why not rely on the timer jobs alone: a timer job (enqueue_at) is moved to the queue by RQ's
scheduler, which lives inside one worker and holds a lock for 61 s; after that worker dies a new
one only retries the lock every 10 minutes (RQ's maintenance interval). And once queued, a timer
job waits behind whatever the only worker is running (the 50 s drain job, a manifest build).
The sweeps here run beside the job loop, so neither delays a deadline beyond a tick. Every sweep
is conditional on the rows' state, so running next to a timer job or another worker's sweep is
harmless.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Callable

from flask import Flask

from app.bargain.jobs import expire_bargain_records_job
from app.flashsale import flows as flash_flows
from app.groupbuy.jobs import close_due_groups_job
from app.order.jobs import expire_overdue_orders_job

log = logging.getLogger(__name__)

DEADLINE_LOCK = "linli:deadline-keeper"
DEADLINE_SWEEPS: tuple[tuple[str, Callable[[], int]], ...] = (
    ("groups", close_due_groups_job),
    ("bargains", expire_bargain_records_job),
    ("unpaid_orders", expire_overdue_orders_job),
)


def _loop(stop: threading.Event, every_s: float, body: Callable[[], None], what: str) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            body()
        except Exception:  # noqa: BLE001 - a database or Redis hiccup: the next tick retries
            log.exception("%s failed; retrying next tick", what)
            stop.wait(min(5.0, every_s * 5))
        stop.wait(max(0.0, every_s - (time.monotonic() - started)))


def drain_tick(consumer: str, *, min_idle_ms: int = 30_000) -> int:
    """One pass over every live sale's stream (an app context)."""
    total = 0
    for sale_id in flash_flows.live_sale_ids():
        total += flash_flows.drain_sale(sale_id, consumer=consumer, min_idle_ms=min_idle_ms)
    return total


def deadline_tick(redis, tick_s: float, owner: str) -> bool:
    """Run the deadline sweeps if this process won this tick (a key living one tick). Returns
    whether it ran them."""
    if not redis.set(DEADLINE_LOCK, owner, nx=True, px=max(100, int(tick_s * 1000) - 50)):
        return False
    for name, sweep in DEADLINE_SWEEPS:
        try:
            sweep()
        except Exception:  # noqa: BLE001 - one sweep's trouble does not hold back the others
            log.exception("deadline sweep %s failed; the next tick retries", name)
    return True


def start(app: Flask, stop: threading.Event | None = None) -> tuple[threading.Event, list[threading.Thread]]:
    """Start the worker's drainer and deadline keeper (daemon threads, each in its own app
    context). Set the returned event to stop them."""
    stop = stop or threading.Event()
    s = app.extensions["linli.settings"]
    redis = app.extensions["linli.redis"]
    me = f"{socket.gethostname()}-{os.getpid()}"
    owner = f"{me}-{uuid.uuid4().hex[:6]}"

    def in_app(body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            with app.app_context():
                body()
        return run

    targets = []
    if s.flash_drain_tick_s > 0:
        targets.append(("linli-drainer", lambda: _loop(stop, s.flash_drain_tick_s,
                                                       lambda: drain_tick(f"{me}-worker"), "flash drain")))
    if s.deadline_tick_s > 0:
        targets.append(("linli-deadlines", lambda: _loop(stop, s.deadline_tick_s,
                                                         lambda: deadline_tick(redis, s.deadline_tick_s, owner),
                                                         "deadline sweeps")))
    threads = [threading.Thread(target=in_app(body), name=name, daemon=True) for name, body in targets]
    for t in threads:
        t.start()
    return stop, threads
