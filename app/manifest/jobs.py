from __future__ import annotations

import dataclasses
import logging
import time
from datetime import date, datetime

from redis.exceptions import RedisError
from rq.exceptions import DuplicateJobError

from app.db import transaction, utcnow
from app.http import settings
from app.manifest import service
from app.manifest.service import next_delivery_date_to_build  # noqa: F401 - for the scheduler
from app.metrics import MANIFEST_BUILD_KEY
from app.queue import enqueue, get_queue, get_redis

log = logging.getLogger(__name__)


def job_id_for(delivery_date: date) -> str:
    return f"manifest-{delivery_date.isoformat()}"


def build_manifests_job(delivery_date_iso: str) -> dict:
    """Ship a delivery date's paid orders and (re)build its manifests; safe to run twice (the
    second run finds nothing to ship and changes nothing). The leaders of points whose manifest
    got a new version are told by a job of their own once the build has committed (a notification
    per leader is work per point, not set-based, and should not hold the build's transaction)."""
    day = date.fromisoformat(delivery_date_iso)
    started = time.monotonic()
    with transaction() as s:
        result = service.build_manifests(s, delivery_date=day)
        if result.points_changed:
            enqueue(notify_manifest_ready_job, delivery_date_iso)
    try:  # for GET /metrics: how long the last build took, and when it ended
        get_redis().hset(MANIFEST_BUILD_KEY, mapping={"seconds": round(time.monotonic() - started, 3),
                                                      "finished_at": time.time(), "orders": result.orders_shipped})
    except RedisError:
        log.warning("could not record the manifest build's duration")
    log.info("manifests %s: version %d, %d points changed, %d orders shipped", day, result.version,
             result.points_changed, result.orders_shipped)
    return {k: v.isoformat() if isinstance(v, (date, datetime)) else v for k, v in dataclasses.asdict(result).items()}


def notify_manifest_ready_job(delivery_date_iso: str) -> int:
    """Tell leaders their point's manifest has a new version; each version once (safe to rerun)."""
    with transaction() as s:
        return service.notify_leaders(s, delivery_date=date.fromisoformat(delivery_date_iso))


def enqueue_build(delivery_date: date) -> bool:
    """Queue the build under the date's fixed job id: a second request while one is queued or
    running (two schedulers by mistake, an impatient operator) is refused by RQ, and the build's
    own lock row covers anything that slips past. Finished jobs are not kept, so the id is free
    again for a rebuild. False if it was already there."""
    try:
        get_queue().enqueue(build_manifests_job, delivery_date.isoformat(), job_id=job_id_for(delivery_date),
                            unique=True, job_timeout=1800,
                            result_ttl=0, failure_ttl=600)
    except DuplicateJobError:
        return False
    return True


def build_nightly_manifests_job(now: datetime | None = None) -> str:
    """What the scheduler runs at LINLI_MANIFEST_AT: queue the build of the date that just closed."""
    day = next_delivery_date_to_build(settings(), now or utcnow())
    enqueue_build(day)
    return day.isoformat()
