"""Issue 18: one user sending several requests at once (joining four groups, a newcomer opening six
shares) never meets a deadlock as a 500: the user's row is locked before any insert that
references it, in every one of those use cases. Over real HTTP (a threaded server, a database
connection per request); on SQLite the same test checks the rules, PostgreSQL is where it bites."""
from __future__ import annotations

import threading

import psycopg
import requests
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import select

from app.auth import service as auth_service
from app.db import CONFLICT_ATTEMPTS, reading, retry_conflicts, transaction
from app.share import service as share_service
from app.share.models import ShareOpen
from tests.conftest import login, make_leader
from tests.groupbuy.helpers import make_campaign
from tests.http_server import serving
from tests.share.helpers import bound, share

ROUNDS = 3


def _together(n: int, fn) -> list:
    start = threading.Barrier(n)
    out: list = [None] * n

    def one(i):
        start.wait(30)
        out[i] = fn(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def test_one_buyer_joining_four_groups_at_once_joins_all_four(app, client, admin, leader, product):
    _, point = leader
    point_id = point["pickup_point_id"]
    sku_id = product["skus"][0]["id"]
    campaigns = [make_campaign(admin, sku_id, group_size=5) for _ in range(4)]
    groups = []
    for i, campaign in enumerate(campaigns):
        opener = login(client, f"opener-{i}")
        r = opener.post(f"/group-buys/{campaign['id']}/groups", json={"pickup_point_id": point_id})
        assert r.status_code == 201, r.get_json()
        groups.append(r.get_json()["group"]["id"])

    with serving(app) as base:
        for round_ in range(ROUNDS):
            joiner = login(client, f"joiner-{round_}")
            # A newcomer's row is also written by the join (its binding): nothing bound yet.

            def join(i):
                r = requests.post(f"{base}/api/v1/groups/{groups[i]}/join", headers=joiner.headers, timeout=60,
                                  json={"pickup_point_id": point_id})
                return r.status_code, r.json().get("code")

            results = _together(4, join)
            assert results == [(201, None)] * 4, (round_, results)


def test_a_newcomer_opening_six_shares_at_once_is_bound_once(app, client, admin, product):
    points = [make_leader(client, admin)[1]["pickup_point_id"] for _ in range(2)]
    with serving(app) as base:
        for round_ in range(ROUNDS):
            tokens = []
            for i in range(6):
                sharer = bound(client, f"sharer-{round_}-{i}", points[i % 2])
                tokens.append(share(sharer, "product", product["id"])["token"])
            newcomer = login(client, f"newcomer-{round_}")

            def open_(i):
                r = requests.post(f"{base}/api/v1/shares/{tokens[i]}/open", headers=newcomer.headers, timeout=60)
                return r.status_code, r.json().get("bound")

            results = _together(6, open_)
            assert [status for status, _ in results] == [200] * 6, (round_, results)
            # "first" binding: exactly one of the six bound the newcomer, to its own point.
            assert sum(1 for _, b in results if b) == 1, results
            me = newcomer.get("/me").get_json()
            with app.app_context(), reading() as s:
                rows = s.exec(select(ShareOpen).where(ShareOpen.visitor_id == newcomer.user["id"])).all()
            assert len(rows) == 6 and sum(1 for r in rows if r.bound) == 1
            assert me["pickup_point_id"] in points


# ---- what lock ordering does not prevent: the victim of a deadlock is run again -----------------

def test_a_deadlock_victim_is_run_again_and_both_transactions_land(app, client, backend):
    """Two use cases locking two user rows in opposite orders: PostgreSQL aborts one of them, and
    retry_conflicts runs it again (without it, one of the two raises DeadlockDetected)."""
    if backend != "postgresql":
        return  # SQLite's single writer cannot deadlock
    a, b = login(client, "dl-a").user["id"], login(client, "dl-b").user["id"]
    met = threading.Barrier(2)
    attempts = [0, 0]

    @retry_conflicts
    def lock_both(i: int, first: int, second: int) -> str:
        attempts[i] += 1
        with transaction() as s:
            auth_service.lock_buyer(s, user_id=first)
            if attempts[i] == 1:
                met.wait(10)  # both hold their first row: the second lock closes the cycle
            auth_service.lock_buyer(s, user_id=second)
            return "ok"

    def run(i):
        with app.app_context():
            try:
                return lock_both(i, *((a, b) if i == 0 else (b, a)))
            except DBAPIError as e:
                return type(e.orig).__name__

    assert _together(2, run) == ["ok", "ok"]
    assert sorted(attempts) == [1, 2]  # one victim, run once more


def test_a_conflict_that_outlasts_the_retries_is_503_with_retry_after(app, client, monkeypatch):
    buyer = login(client, "conflicted")
    calls = []

    def always_aborted(*args, **kwargs):
        calls.append(1)
        raise OperationalError("SELECT users.pickup_point_id ... FOR UPDATE", {},
                               psycopg.errors.DeadlockDetected("deadlock detected"))

    monkeypatch.setattr(share_service, "open_share", always_aborted)
    r = buyer.post("/shares/abcdefgh/open")
    assert r.status_code == 503, r.get_json()
    assert r.get_json()["code"] == "service_unavailable" and int(r.headers["Retry-After"]) >= 1
    assert len(calls) == CONFLICT_ATTEMPTS
