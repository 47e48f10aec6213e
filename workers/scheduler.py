"""The one periodic-job scheduler (RQ cron): run exactly one copy."""
from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from rq.cron import CronScheduler

from app import create_app
from app.config import Settings


def local_time_to_utc_cron(at: time, tz: ZoneInfo, today: datetime | None = None) -> str:
    """RQ 2.x evaluates cron strings in UTC: turn a local wall-clock time into one.

    Exact for zones without daylight saving (Asia/Shanghai); elsewhere it holds for the offset in
    force on `today` and the scheduler should be restarted at a DST change.
    """
    today = today or datetime.now(tz)
    local = datetime.combine(today.date(), at, tzinfo=tz)
    utc = local.astimezone(ZoneInfo("UTC"))
    return f"{utc.minute} {utc.hour} * * *"


def build_scheduler(settings: Settings | None = None) -> tuple[CronScheduler, object]:
    app = create_app(settings)
    s = app.extensions["linli.settings"]
    from app.commission.jobs import settle_commissions_job
    from app.idempotency import purge_idempotency_keys_job
    from app.order.jobs import expire_overdue_orders_job
    from app.payment.jobs import redrive_refunds_job

    cron = CronScheduler(connection=app.extensions["linli.redis"], )
    cron.register(expire_overdue_orders_job, queue_name=s.queue_name, interval=s.expiry_sweep_interval_s)
    cron.register(settle_commissions_job, queue_name=s.queue_name, interval=s.commission_settle_interval_s)
    cron.register(purge_idempotency_keys_job, queue_name=s.queue_name, interval=3600)
    cron.register(redrive_refunds_job, queue_name=s.queue_name, interval=300)
    return cron, app


def run_scheduler(settings: Settings | None = None) -> None:
    cron, _ = build_scheduler(settings)
    cron.start()


