"""Issue 18: PostgreSQL stopped under load is a 503 service_unavailable with Retry-After on every
route (never a 500), and the service answers 2xx again by itself once it is back."""
from __future__ import annotations

import threading
import time

import pytest
from redis import Redis

from app import create_app
from app.config import Settings
from app.migrate import upgrade
from tests.conftest import BACKENDS, login
from tests.services import PostgresCluster

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="a PostgreSQL outage needs PostgreSQL")

PATHS = ("/api/v1/me", "/api/v1/orders", "/api/v1/products", "/api/v1/pickup-points/nearby?lat=30.27&lng=120.15")


@pytest.fixture
def own_cluster():
    """A cluster of this test's own: stopping the suite's would fail every other test."""
    cluster = PostgresCluster()
    yield cluster
    cluster.stop()


def test_postgresql_stopped_under_load_answers_503_then_recovers_by_itself(own_cluster, redis_server, fake_wechat):
    url = own_cluster.create_database("outage")
    upgrade(url)
    Redis.from_url(redis_server.url()).flushall()
    app = create_app(Settings(env="test", database_url=url, redis_url=redis_server.url(), ratelimit_enabled=False,
                              queue_name="linli-outage", wechat_api_base=fake_wechat.base_url,
                              wechat_appid=fake_wechat.appid, wechat_secret=fake_wechat.secret))
    app.config["TESTING"] = True
    buyer = login(app.test_client(), "outage-buyer")
    for path in PATHS:
        assert app.test_client().get(path, headers=buyer.headers).status_code == 200, path

    results: list[tuple[float, str, int, str | None, str | None, float]] = []
    done = threading.Event()

    def hammer():
        client = app.test_client()
        while not done.is_set():
            for path in PATHS:
                sent = time.monotonic()
                r = client.get(path, headers=buyer.headers)
                body = r.get_json(silent=True) or {}
                results.append((sent, path, r.status_code, r.headers.get("Retry-After"), body.get("code"),
                                time.monotonic()))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)
        own_cluster.halt()
        halted = time.monotonic()
        time.sleep(3)
        starting = time.monotonic()
        own_cluster.start_server()
        restarted = time.monotonic()
        time.sleep(3)  # recovery is automatic: nothing here tells the app the database is back
    finally:
        done.set()
        for t in threads:
            t.join(30)
        app.extensions["linli.engine"].dispose()

    statuses = {}
    for _, path, status, *_ in results:
        statuses.setdefault(status, set()).add(path)
    assert set(statuses) <= {200, 503}, statuses
    down = [r for r in results if halted < r[0] and r[5] < starting]  # sent and answered while down
    assert down and all(r[2] == 503 for r in down), "the outage was not seen"
    assert {r[1] for r in down} == set(PATHS), "every route says 503"
    for _, _, status, retry_after, code, _ in results:
        if status == 503:
            assert code == "service_unavailable" and retry_after and int(retry_after) >= 1
    # Back by itself: the last second's answers are all 200, on every route.
    last = [r for r in results if r[0] > restarted + 2]
    assert last and all(r[2] == 200 for r in last), sorted({r[2] for r in last})
    assert {r[1] for r in last} == set(PATHS)
