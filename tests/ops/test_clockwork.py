"""Time-driven work is on time while the only worker is busy with a long job (issue 19): a real
`linli worker` process drains flash reservations and sweeps due deadlines in threads beside its
job loop (app/clockwork.py). With those threads off (LINLI_*_TICK_S=0) this test fails: the
reservation stays pending and the group forming until the long job ends."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

from rq import Queue
from rq.registry import StartedJobRegistry

from app.db import reading, transaction, utcnow
from app.groupbuy import service as group_service
from app.groupbuy.models import Group
from tests.flashsale.test_flash_basics import bound_buyer, make_sale
from tests.ops.test_processes import env_for


def wait_for(predicate, timeout: float, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(every)
    return None


def test_a_busy_only_worker_still_confirms_reservations_and_closes_groups_on_time(app, client, admin, product,
                                                                                  leader, tmp_path):
    settings = app.extensions["linli.settings"]
    queue = Queue(settings.queue_name, connection=app.extensions["linli.redis"])
    queue.enqueue("time.sleep", 60, job_timeout=120)  # a long manifest build, say, holding the only worker
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env_for(settings), stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_for(lambda: StartedJobRegistry(queue=queue).count == 1, 60), (tmp_path / "worker.log").read_text()
        point = leader[1]["pickup_point_id"]
        sale = make_sale(admin, product["skus"][0]["id"], stock=10, limit=5)
        buyer = bound_buyer(client, "on-time", point)
        with app.app_context():
            with transaction() as s:
                now = utcnow()
                campaign = group_service.create_campaign(
                    s, sku_id=product["skus"][0]["id"], group_price=990, group_size=3, duration_s=2,
                    starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1))
                group, _ = group_service.open_group(s, settings=settings, campaign_id=campaign.id,
                                                    buyer_id=buyer.user["id"], qty=1, pickup_point_id=point)
                group_id, expires_at = group.id, group.expires_at

        res = buyer.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).get_json()["reservation_id"]
        t0 = time.monotonic()
        confirmed = wait_for(lambda: buyer.get(f"/flash-sales/reservations/{res}").get_json()["status"] == "confirmed",
                             10)
        took = time.monotonic() - t0
        assert confirmed and took < 2.0, (took, (tmp_path / "worker.log").read_text()[-3000:])

        def closed():
            with app.app_context(), reading() as s:
                g = s.get(Group, group_id)
                return g if g.closed_at is not None else None

        g = wait_for(closed, 20, every=0.2)
        assert g is not None and g.status == "failed", (tmp_path / "worker.log").read_text()[-3000:]
        lateness = (g.closed_at.replace(tzinfo=None) - expires_at.replace(tzinfo=None)).total_seconds()
        assert 0 <= lateness < 10
        assert StartedJobRegistry(queue=queue).count == 1  # the long job still holds the worker
    finally:
        worker.kill()
        worker.wait(30)


def test_one_worker_a_tick_runs_the_deadline_sweeps(app, monkeypatch):
    """Every worker ticks; the Redis key living one tick lets one of them sweep, the next tick
    anyone (a worker killed mid-sweep costs a tick, not a lock's minute)."""
    from app import clockwork

    ran = []
    monkeypatch.setattr(clockwork, "DEADLINE_SWEEPS", (("probe", lambda: ran.append(1) or 0),))
    redis = app.extensions["linli.redis"]
    redis.delete(clockwork.DEADLINE_LOCK)
    with app.app_context():
        assert clockwork.deadline_tick(redis, 0.5, "worker-a") is True
        assert clockwork.deadline_tick(redis, 0.5, "worker-b") is False
        time.sleep(0.5)
        assert clockwork.deadline_tick(redis, 0.5, "worker-b") is True
    assert ran == [1, 1]


def test_a_failing_sweep_does_not_hold_back_the_others(app, monkeypatch):
    from app import clockwork

    ran = []

    def boom():
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(clockwork, "DEADLINE_SWEEPS", (("boom", boom), ("probe", lambda: ran.append(1) or 0)))
    redis = app.extensions["linli.redis"]
    redis.delete(clockwork.DEADLINE_LOCK)
    with app.app_context():
        assert clockwork.deadline_tick(redis, 0.5, "worker-a") is True
    assert ran == [1]
