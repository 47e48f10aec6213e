import os
import subprocess
import sys
import time

import pytest

from app.scheduler import build_scheduler


def env_for(settings) -> dict:
    env = dict(os.environ)
    env.update({"LINLI_ENV": "test", "LINLI_DATABASE_URL": settings.database_url,
                "LINLI_REDIS_URL": settings.redis_url, "LINLI_QUEUE_NAME": settings.queue_name})
    return env


def test_the_scheduler_registers_the_periodic_jobs(make_settings):
    cron, _ = build_scheduler(make_settings())
    names = sorted(j.func_name for j in cron.get_jobs())
    assert names == ["app.aftersales.jobs.escalate_overdue_after_sales_job", "app.bargain.jobs.expire_bargain_records_job", "app.commission.jobs.settle_commissions_job",
                     "app.earnings.jobs.sweep_transfers_job",
                     "app.flashsale.jobs.drain_flash_sales_job", "app.flashsale.jobs.settle_due_flash_sales_job",
                     "app.groupbuy.jobs.close_due_groups_job", "app.idempotency.purge_idempotency_keys_job",
                     "app.manifest.jobs.build_nightly_manifests_job", "app.order.jobs.expire_overdue_orders_job",
                     "app.payment.jobs.redrive_refunds_job", "app.reconcile.jobs.reconcile_yesterday_job",
                     "app.reconcile.jobs.redrive_reconciliations_job", "app.shipping.jobs.redrive_shipping_job",
                     "app.shipping.jobs.sweep_shipping_job", "app.subscribe.jobs.sweep_subscribe_sends_job"]


def test_the_nightly_manifest_build_fires_at_linli_manifest_at_in_the_business_zone(make_settings):
    from datetime import time as dtime
    from datetime import timezone
    from zoneinfo import ZoneInfo

    cron, _ = build_scheduler(make_settings(manifest_at=dtime(23, 30), timezone="Asia/Shanghai"))
    [job] = [j for j in cron.get_jobs() if j.func_name.endswith("build_nightly_manifests_job")]
    fire = job.next_enqueue_time.astimezone(timezone.utc)
    assert (fire.hour, fire.minute) == (15, 30)
    assert fire.astimezone(ZoneInfo("Asia/Shanghai")).time() == dtime(23, 30)


def test_the_daily_reconciliation_fires_at_linli_reconcile_at_in_the_business_zone(make_settings):
    from datetime import time as dtime
    from datetime import timezone
    from zoneinfo import ZoneInfo

    cron, _ = build_scheduler(make_settings(reconcile_at=dtime(10, 0), timezone="Asia/Shanghai"))
    [job] = [j for j in cron.get_jobs() if j.func_name.endswith("reconcile_yesterday_job")]
    fire = job.next_enqueue_time.astimezone(timezone.utc)
    assert (fire.hour, fire.minute) == (2, 0)
    assert fire.astimezone(ZoneInfo("Asia/Shanghai")).time() == dtime(10, 0)


@pytest.fixture
def settings_overrides():
    return {"payment_timeout_s": 1}


def test_a_real_worker_process_expires_an_unpaid_order(app, client, leader, product, buyer):
    o = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                    "pickup_point_id": leader[1]["pickup_point_id"]}).get_json()
    time.sleep(1.5)
    settings = app.extensions["linli.settings"]
    out = subprocess.run([sys.executable, "-m", "app.cli", "worker", "--burst"], env=env_for(settings),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert buyer.get(f"/orders/{o['id']}").get_json()["status"] == "cancelled"


def test_db_upgrade_and_seed_demo_run_once(tmp_path, redis_server):
    env = dict(os.environ, LINLI_DATABASE_URL=f"sqlite:///{tmp_path}/x.db", LINLI_REDIS_URL=redis_server.url(5))
    run = lambda *a: subprocess.run([sys.executable, "-m", "app.cli", *a], env=env, capture_output=True,
                                    text=True, timeout=120)
    assert run("db", "upgrade").returncode == 0
    assert run("db", "upgrade").returncode == 0
    first = run("seed-demo")
    assert first.returncode == 0 and "demo data loaded" in first.stdout, first.stderr[-2000:]
    assert "already loaded" in run("seed-demo").stdout


def test_prod_refuses_to_start_with_a_default_secret(tmp_path):
    env = dict(os.environ, LINLI_ENV="prod", LINLI_DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    out = subprocess.run([sys.executable, "-m", "app.cli", "seed-demo"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "LINLI_SECRET_KEY" in out.stderr
