"""Ten helpers cutting one record that needs three, at once, over real HTTP (threaded server, one
database connection per request; SQLite serialises writers, so there it checks the rules only)."""
from __future__ import annotations

import threading

import requests
from sqlmodel import select

from app.bargain.models import BargainHelp, BargainRecord
from app.db import transaction
from tests.bargain.test_bargain import make_bargain
from tests.conftest import login
from tests.http_server import serving


def test_ten_helpers_at_once_on_a_record_needing_three_make_exactly_three_cuts_landing_on_the_floor(
        app, client, admin, product):
    b = make_bargain(admin, product["skus"][0]["id"], start_price=100_000, floor_price=1_000)
    owner = login(client, "owner")
    rec = owner.post(f"/bargains/{b['id']}/start").get_json()
    tokens = [login(client, f"helper-{i}").token for i in range(10)]
    results = []
    lock = threading.Lock()
    start = threading.Barrier(10)
    with serving(app) as base:
        def go(token):
            start.wait(10)
            r = requests.post(f"{base}/api/v1/bargain-records/{rec['id']}/help", timeout=60,
                              headers={"Authorization": f"Bearer {token}"})
            with lock:
                results.append((r.status_code, r.json()))

        threads = [threading.Thread(target=go, args=(t,)) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

    ok = [body for status, body in results if status == 200]
    assert len(ok) == 3, results
    assert all(status == 409 and body["code"] == "completed" for status, body in results if status != 200), results
    assert sum(body["cut"] for body in ok) == 99_000 and all(body["cut"] >= 1 for body in ok)
    assert sorted(body["current_price"] for body in ok)[0] == 1_000
    with app.app_context(), transaction() as s:
        record = s.get(BargainRecord, rec["id"])
        assert (record.current_price, record.helpers_count, record.status) == (1_000, 3, "completed")
        cuts = s.exec(select(BargainHelp.cut).where(BargainHelp.record_id == rec["id"])).all()
        assert sorted(cuts) == sorted(body["cut"] for body in ok)  # refused helpers leave no row
