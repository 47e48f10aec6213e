"""RQ 3's cron reads its fields in the process's local time zone (RQ 2 read UTC): the scheduler
registers daily jobs at LINLI_TIMEZONE wall-clock times whatever zone the process runs in."""
from __future__ import annotations

import os
import time
from datetime import datetime
from datetime import time as dtime
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from rq.cron import CronScheduler

from app.config import Settings
from app.scheduler import daily_cron, register_daily

SH = ZoneInfo("Asia/Shanghai")


def nightly_job():
    """Stands in for the manifest build."""


@pytest.fixture
def process_zone():
    """Set the process's local zone (TZ + tzset), restored afterwards."""
    saved = os.environ.get("TZ")

    def _set(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield _set
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


def settings(**kw) -> Settings:
    return Settings(env="test", timezone="Asia/Shanghai", manifest_at=dtime(23, 30), **kw)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/New_York", "Europe/London"])
def test_a_2330_shanghai_job_next_fires_at_1530_utc_whatever_the_process_zone(process_zone, zone):
    process_zone(zone)
    s = settings()
    cron = CronScheduler(connection=Redis())  # no command is sent: registering is local
    job = register_daily(cron, nightly_job, s.manifest_at, s)
    fire = job.next_enqueue_time.astimezone(timezone.utc)
    assert (fire.hour, fire.minute) == (15, 30)
    assert timedelta(0) < fire - datetime.now(timezone.utc) <= timedelta(days=1)
    assert fire.astimezone(SH).time() == dtime(23, 30)
    assert job.queue_name == s.queue_name


def test_the_cron_fields_are_the_wall_clock_time_in_the_process_zone(process_zone):
    s = settings()
    noon = datetime(2026, 11, 22, 12, 0, tzinfo=SH)
    process_zone("UTC")
    assert daily_cron(dtime(23, 30), s, now=noon) == "30 15 * * *"
    process_zone("Asia/Shanghai")  # as `linli scheduler` runs: the identity
    assert daily_cron(dtime(23, 30), s, now=noon) == "30 23 * * *"
    process_zone("UTC")
    assert daily_cron(dtime(7, 0), s, now=noon) == "0 23 * * *"  # 07:00 tomorrow in Shanghai
