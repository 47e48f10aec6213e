"""Reconciliation jobs: the daily run at LINLI_RECONCILE_AT, a date's run (re-queued by the run
itself while the bill is not ready), and the sweep that re-queues runs whose job was lost."""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from app.db import utcnow
from app.http import settings
from app.payment import flows as payment_flows
from app.payment.bills import WECHAT_TZ
from app.queue import enqueue
from app.reconcile import flows
from app.reconcile.errors import ReconciliationRunning

log = logging.getLogger(__name__)
# A waiting date whose retry job has not come this long after it was due was lost (Redis restarted
# without persistence, no worker for a while): the sweep queues it again.
LOST_AFTER = timedelta(minutes=10)


def reconcile_job(day_iso: str) -> dict[str, Any]:
    day = date.fromisoformat(day_iso)
    try:
        report = flows.reconcile(day, settings=settings(), provider=payment_flows.provider())
    except ReconciliationRunning:
        log.info("reconciliation %s is running elsewhere; this job leaves it", day)
        return {"date": day_iso, "skipped": "running"}
    return {"date": day_iso, "status": report["status"], "discrepancies": len(report["discrepancies"])}


def reconcile_yesterday_job(now: datetime | None = None) -> str:
    """What the scheduler runs at LINLI_RECONCILE_AT: queue the run of yesterday's bills
    (WeChat Pay's day, in Beijing time)."""
    day = (now or utcnow()).astimezone(WECHAT_TZ).date() - timedelta(days=1)
    enqueue(flows.JOB, day.isoformat(), job_id=f"reconcile-{day}")
    return day.isoformat()


def redrive_reconciliations_job(now: datetime | None = None) -> list[str]:
    now = now or utcnow()
    days = flows.due_dates(now - LOST_AFTER)
    for day in days:
        enqueue(flows.JOB, day.isoformat(), job_id=f"reconcile-{day}-sweep-{int(now.timestamp())}")
    if days:
        log.info("reconciliation sweep: %d dates queued again", len(days))
    return [d.isoformat() for d in days]
