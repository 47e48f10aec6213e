"""Builds of one date racing each other: real threads, one session each. On PostgreSQL they
truly overlap (the build's lock row and the unique keys decide); SQLite serialises writers, so
there the test only shows that queued builds change nothing."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from app.db import reading
from app.manifest import jobs
from app.manifest.models import ManifestLine, PointManifest, WarehouseManifest
from app.notify.models import Notification
from app.order.models import Order
from tests.conftest import login, make_leader, make_product
from tests.manifest.test_manifests import paid_order

THREADS = 8


def race(app, day: str) -> list:
    barrier = threading.Barrier(THREADS)
    results, errors = [], []

    def run():
        with app.app_context():
            barrier.wait()
            try:
                results.append(jobs.build_manifests_job(day))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def count(app, model, *where):
    with app.app_context(), reading() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar()


def test_concurrent_builds_make_one_set_of_manifests_and_ship_each_order_once(app, client, admin, drain):
    (l1, p1), (l2, p2) = make_leader(client, admin), make_leader(client, admin, lat=30.3, lng=120.1)
    sku = make_product(admin, skus=(("一个装约4斤", 1990, 1000),))["skus"][0]["id"]
    orders = [paid_order(login(client, f"race-{i}"), [sku], (p1, p2)[i % 2]["pickup_point_id"], qty=i + 1)
              for i in range(12)]
    day = orders[0]["delivery_date"]

    results = race(app, day)

    assert sum(r["orders_shipped"] for r in results) == 12
    assert {r["version"] for r in results} == {1}
    assert sorted(r["points_changed"] for r in results) == [0] * (THREADS - 1) + [2]
    assert count(app, Order, Order.status == "shipped") == 12
    assert count(app, PointManifest, PointManifest.version == 1) == 2
    with app.app_context(), reading() as s:
        assert s.execute(select(func.sum(PointManifest.order_count))).scalar() == 12
        assert s.execute(select(func.sum(WarehouseManifest.order_count))).scalar() == 12
    with app.app_context(), reading() as s:
        assert s.execute(select(func.sum(ManifestLine.qty))).scalar() == sum(range(1, 13))
    drain()
    assert count(app, Notification, Notification.event == "manifest_ready") == 2


def test_concurrent_first_builds_of_a_date_without_orders_do_not_collide(app):
    results = race(app, "2031-05-06")

    assert {r["version"] for r in results} == {1}
    assert count(app, WarehouseManifest) == 1
