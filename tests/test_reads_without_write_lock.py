"""Read-only endpoints never take SQLite's write lock: with another connection holding it (a
long write, a migration, a busy worker), GET /me and the other reads still answer at once."""
from __future__ import annotations

import sqlite3
import time

import pytest

from tests.conftest import BACKENDS


@pytest.mark.skipif("sqlite" not in BACKENDS, reason="the write lock is SQLite's")
@pytest.mark.parametrize("backend", ["sqlite"])
def test_reads_answer_while_another_connection_holds_the_write_lock(app, client, leader, product, buyer):
    url = app.extensions["linli.settings"].database_url
    if not url.startswith("sqlite"):
        pytest.skip("the write lock is SQLite's")
    o = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                    "pickup_point_id": leader[1]["pickup_point_id"]}).get_json()
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=1)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held until the end of the test
    try:
        for path in ("/me", f"/orders/{o['id']}", "/orders", f"/products/{product['id']}",
                     f"/pickup-points/{leader[1]['pickup_point_id']}"):
            started = time.perf_counter()
            r = buyer.get(path)
            elapsed = time.perf_counter() - started
            assert r.status_code == 200, (path, r.get_json())
            assert elapsed < 1, f"GET {path} waited {elapsed:.1f}s for the write lock"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
