"""Redis connection and RQ enqueueing that happens only after the transaction commits."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Callable

from flask import current_app
from redis import Redis
from redis.exceptions import LockError
from redis.lock import Lock
from rq import Queue, Retry

from app.db import after_commit

log = logging.getLogger(__name__)


def get_redis() -> Redis:
    return current_app.extensions["linli.redis"]


def release_lock(lock: Lock) -> None:
    """Let go of a redis-py Lock that may have lapsed meanwhile (another holder's is left alone)."""
    try:
        lock.release()
    except LockError:
        log.warning("the Redis lock %s had lapsed before its release", lock.name)


def get_queue() -> Queue:
    settings = current_app.extensions["linli.settings"]
    return Queue(settings.queue_name, connection=get_redis())


def enqueue(func: Callable | str, *args: Any, job_id: str | None = None, at: datetime | None = None,
            delay: timedelta | None = None, retry: Retry | None = None) -> None:
    """Enqueue func(*args) once the current transaction commits.

    Jobs take ids and are safe to run twice, so a duplicate enqueue is harmless; a fixed job_id
    keeps at most one copy waiting.
    """
    retry = retry or Retry(max=5, interval=[5, 15, 60, 300, 900])
    queue = get_queue()

    def _go():
        kw: dict[str, Any] = {"job_id": job_id, "retry": retry}
        try:
            if at is not None:
                queue.enqueue_at(at, func, *args, **kw)
            elif delay is not None:
                queue.enqueue_in(delay, func, *args, **kw)
            else:
                queue.enqueue(func, *args, **kw)
        except Exception:
            # Runs after the commit: the rows are in a state a periodic sweep finds (unpaid orders
            # past pay_before, pending refunds), so a lost enqueue delays work, never loses it.
            log.exception("could not enqueue %s%r (job id %s); the sweep will cover it",
                          getattr(func, "__name__", func), args, job_id)

    after_commit(_go)
