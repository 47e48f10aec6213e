"""Flash sales against a live `linli serve` and real drain processes, with a real Redis: no
oversell, no user past the limit, every reservation exactly one order, across a SIGKILLed drain
and a Redis that lost everything."""
from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter

import pytest
from redis import Redis

from tests.flashsale.live import Live, hammer, kill

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # the live server runs on its own SQLite file


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, redis_server):
    # One server (and one world of 100 buyers) for the module: starting them is most of the cost.
    Redis.from_url(redis_server.url(9)).flushdb()
    lv = Live(tmp_path_factory.mktemp("flash-live"), redis_server.url(9))
    lv.w = lv.world(100)
    yield lv
    lv.stop()


@pytest.fixture
def live(live_server):
    yield live_server
    for p in live_server.drains:  # each test's drains end with it
        kill(p)
    live_server.drains.clear()


def codes(results) -> Counter:
    return Counter(body.get("code", "reserved") for _, status, body in results)


def test_300_purchases_from_100_users_for_20_units_reserve_exactly_20_and_each_becomes_one_order(backend, live):
    w = live.w
    sale = live.sale(w, stock=20, limit=2)
    reqs = [(w["buyers"][i % 100][0], sale) for i in range(300)]
    random.Random(7).shuffle(reqs)
    results = hammer(live, reqs)
    won = [(i, body["reservation_id"]) for i, status, body in results if status == 202]
    assert len(won) == 20
    refused = [(i, status, body) for i, status, body in results if status != 202]
    assert all(status == 409 and body["code"] in ("sold_out", "limit_exceeded") for _, status, body in refused), \
        codes(refused)
    per_user = Counter(reqs[i][0] for i, _ in won)
    assert max(per_user.values()) <= 2
    for i, _, body in refused:  # each refusal is the true one: at the limit, or nothing left
        if body["code"] == "limit_exceeded":
            assert per_user[reqs[i][0]] == 2
    live.start_drain("d1")
    rows = live.wait_orders(sale, 20)
    assert sorted(r[0] for r in rows) == sorted(res for _, res in won)  # one order per reservation
    assert {(r[2], r[3], r[4]) for r in rows} == {(1, "pending_payment", 990)}
    assert live.held(sale) == 20
    token = reqs[won[0][0]][0]
    got = live.call("GET", f"/flash-sales/reservations/{won[0][1]}", token).json()
    assert got["status"] == "confirmed" and got["order_id"]
    stats = live.call("GET", f"/admin/flash-sales/{sale}", w["admin"]).json()
    assert (stats["stock_left"], stats["reserved"], stats["confirmed"]) == (0, 20, 20)


def test_a_drain_killed_mid_batch_loses_and_duplicates_nothing_after_a_restart(backend, live, redis_server):
    w = live.w
    sale = live.sale(w, stock=300, limit=10)
    results = hammer(live, [(w["buyers"][i % 30][0], sale) for i in range(300)])
    reserved = sorted(body["reservation_id"] for _, status, body in results if status == 202)
    assert len(reserved) == 300
    # Hold SQLite's write lock: the drain reads a batch from the stream, then waits to insert it.
    lock = sqlite3.connect(live.tmp / "linli.db", timeout=30)
    lock.execute("BEGIN IMMEDIATE")
    first = live.start_drain("crashy")
    r = Redis.from_url(redis_server.url(9))
    deadline = time.time() + 20
    while r.xpending(f"{{fs:{sale}}}:stream", "drain")["pending"] == 0:
        assert time.time() < deadline, "the drain never read a batch"
        time.sleep(0.05)
    kill(first)  # SIGKILL, mid-batch: read from the stream, nothing written, nothing acknowledged
    lock.rollback()
    lock.close()
    assert live.orders(sale) == []
    live.start_drain("restarted", "--min-idle-ms", "0")
    rows = live.wait_orders(sale, 300)
    assert sorted(r_[0] for r_ in rows) == reserved
    assert live.held(sale) == 300
    deadline = time.time() + 10
    while r.xpending(f"{{fs:{sale}}}:stream", "drain")["pending"]:
        assert time.time() < deadline
        time.sleep(0.05)


def test_redis_flushed_mid_sale_then_reconcile_keeps_sold_units_sold_and_sells_the_rest_once(backend, live,
                                                                                           redis_server):
    w = live.w
    sale = live.sale(w, stock=30, limit=2)
    first = hammer(live, [(w["buyers"][i % 10][0], sale) for i in range(20)])
    assert codes(first) == {"reserved": 20}
    live.start_drain("d1")
    live.wait_orders(sale, 20)
    Redis.from_url(redis_server.url(9)).flushdb()  # Redis lost everything the sale had
    assert "10 units left" in live.linli("flash-sales", "reconcile", str(sale))
    again = [(w["buyers"][i % 20][0], sale) for i in range(60)]
    results = hammer(live, again)
    won = [(i, body["reservation_id"]) for i, status, body in results if status == 202]
    assert len(won) == 10
    assert all(reqs_user not in {t for t, _ in w["buyers"][:10]} for reqs_user in (again[i][0] for i, _ in won))
    rows = live.wait_orders(sale, 30)
    assert len(rows) == len({r[0] for r in rows}) == 30  # no reservation number reused, none twice
    assert max(Counter(r[1] for r in rows).values()) == 2
    assert live.held(sale) == 30
    assert codes([x for x in results if x[1] != 202]).keys() <= {"sold_out", "limit_exceeded"}
