"""The periodic-job scheduler (RQ cron): `linli scheduler` runs exactly one copy."""
from __future__ import annotations

import os
import time as _time
from datetime import datetime, time, timedelta
from typing import Callable

from rq.cron import CronJob, CronScheduler

from app.aftersales.jobs import escalate_overdue_after_sales_job
from app.bargain.jobs import expire_bargain_records_job
from app.commission.jobs import settle_commissions_job
from app.config import Settings
from app.earnings.jobs import sweep_transfers_job
from app.factory import create_app
from app.flashsale.jobs import drain_flash_sales_job, settle_due_flash_sales_job
from app.groupbuy.jobs import close_due_groups_job
from app.idempotency import purge_idempotency_keys_job
from app.manifest.jobs import build_nightly_manifests_job
from app.order.jobs import expire_overdue_orders_job
from app.payment.jobs import redrive_refunds_job
from app.reconcile.jobs import reconcile_yesterday_job, redrive_reconciliations_job
from app.shipping.jobs import redrive_shipping_job, sweep_shipping_job
from app.subscribe.jobs import sweep_subscribe_sends_job


def daily_cron(at: time, settings: Settings, *, now: datetime | None = None) -> str:
    """The cron expression that fires every day at `at` on LINLI_TIMEZONE's wall clock.

    RQ 3 matches cron fields against the *process's* local time zone (RQ 2 used UTC), which on a
    server is usually UTC, not the business zone. So the wall-clock time is converted to the
    process's zone at its next occurrence. `run_scheduler` also sets the process zone to
    LINLI_TIMEZONE, which makes the conversion the identity there and lets RQ follow daylight
    saving itself; anywhere else (a test, a shell) the next fire time is still right.
    """
    now = now or datetime.now(settings.tz)
    local = datetime.combine(now.astimezone(settings.tz).date(), at, tzinfo=settings.tz)
    if local <= now:
        local = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=settings.tz)
    here = local.astimezone()  # the process's local zone, the one RQ's cron reads
    return f"{here.minute} {here.hour} * * *"


def register_daily(cron: CronScheduler, func: Callable, at: time, settings: Settings, **kw) -> CronJob:
    """Register func to be enqueued once a day at `at` (LINLI_TIMEZONE wall clock), e.g. the
    nightly manifest build at LINLI_MANIFEST_AT."""
    return cron.register(func, queue_name=settings.queue_name, cron=daily_cron(at, settings), **kw)


def build_scheduler(settings: Settings | None = None) -> tuple[CronScheduler, object]:
    app = create_app(settings)
    s = app.extensions["linli.settings"]

    cron = CronScheduler(connection=app.extensions["linli.redis"])
    cron.register(expire_overdue_orders_job, queue_name=s.queue_name, interval=s.expiry_sweep_interval_s)
    cron.register(settle_commissions_job, queue_name=s.queue_name, interval=s.commission_settle_interval_s)
    cron.register(purge_idempotency_keys_job, queue_name=s.queue_name, interval=3600)
    cron.register(redrive_refunds_job, queue_name=s.queue_name, interval=300)
    cron.register(close_due_groups_job, queue_name=s.queue_name, interval=s.group_sweep_interval_s)
    cron.register(expire_bargain_records_job, queue_name=s.queue_name, interval=s.group_sweep_interval_s)
    cron.register(settle_due_flash_sales_job, queue_name=s.queue_name, interval=60)
    cron.register(drain_flash_sales_job, queue_name=s.queue_name, interval=60)
    cron.register(sweep_subscribe_sends_job, queue_name=s.queue_name, interval=60)
    cron.register(sweep_transfers_job, queue_name=s.queue_name, interval=s.transfer_sweep_interval_s)
    cron.register(redrive_reconciliations_job, queue_name=s.queue_name, interval=600)
    register_daily(cron, build_nightly_manifests_job, s.manifest_at, s)
    register_daily(cron, reconcile_yesterday_job, s.reconcile_at, s)
    cron.register(escalate_overdue_after_sales_job, queue_name=s.queue_name, interval=s.after_sale_sweep_interval_s)
    cron.register(redrive_shipping_job, queue_name=s.queue_name, interval=60)
    register_daily(cron, sweep_shipping_job, s.shipping_sweep_at, s)
    return cron, app


def use_business_time_zone(settings: Settings) -> None:
    """Make LINLI_TIMEZONE the process's local zone, so RQ's cron fields mean business wall-clock
    times across daylight-saving changes too (only for the scheduler process: it changes `time`'s
    idea of local time for everything in the process)."""
    os.environ["TZ"] = settings.timezone
    _time.tzset()


def run_scheduler(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    use_business_time_zone(settings)
    cron, _ = build_scheduler(settings)
    cron.start()
