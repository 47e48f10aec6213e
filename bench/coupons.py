"""Benchmark: coupons through the app's own routes (in-process test client), on SQLite and on a
throwaway PostgreSQL cluster with a real redis-server.

- a leader's grant to N fans (default 2,000; bound to the point by one INSERT): the request's
  wall time (coupons inserted as sets in batches of 500, plus one notification per fan);
- a claim: median and p90 of --claims sequential claims by different buyers;
- an order with a coupon vs without: median of --orders each.

Run: .venv/bin/python bench/coupons.py [--fans N] [--claims N] [--orders N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from app import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import transaction  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from tests.conftest import login, make_leader, make_product  # noqa: E402
from tests.services import PostgresCluster, RedisServer  # noqa: E402


def ms(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"median {statistics.median(xs) * 1000:.1f} ms, p90 {xs[int(len(xs) * 0.9)] * 1000:.1f} ms"


def template(admin, **over) -> int:
    now = datetime.now(timezone.utc)
    body = {"name": "满10减5", "kind": "fixed", "value": 500, "min_spend": 0, "total": 1_000_000,
            "per_user_limit": 100, "valid_from": (now - timedelta(hours=1)).isoformat(),
            "valid_to": (now + timedelta(days=30)).isoformat(), **over}
    r = admin.post("/admin/coupon-templates", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def run(name: str, url: str, redis_url: str, args) -> None:
    upgrade(url)
    app = create_app(Settings(env="test", database_url=url, redis_url=redis_url, ratelimit_enabled=False,
                              queue_name="bench-coupons", max_unpaid_orders=10_000))
    client = app.test_client()
    admin = login(client, "admin", admin=True)
    leader, approved = make_leader(client, admin)
    point = approved["pickup_point_id"]
    sku = make_product(admin, skus=(("一个装", 1990, 10_000_000),))["skus"][0]["id"]

    with app.app_context(), transaction() as s:
        s.execute(text("INSERT INTO users (openid, nickname, is_admin, pickup_point_id, bound_at, created_at) "
                       "SELECT 'fan' || g, '邻居' || g, false, :p, :now, :now FROM generate_series(1, :n) g"
                       if url.startswith("postgresql") else
                       "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < :n) "
                       "INSERT INTO users (openid, nickname, is_admin, pickup_point_id, bound_at, created_at) "
                       "SELECT 'fan' || i, '邻居' || i, 0, :p, :now, :now FROM g"),
                  {"p": point, "now": datetime.now(timezone.utc), "n": args.fans})
    t = template(admin, claimable=False)
    admin.post(f"/admin/coupon-templates/{t}/leader-quotas", json={"leader_id": approved["leader_id"],
                                                                   "quota": args.fans})
    started = time.perf_counter()
    r = leader.post("/leader/coupon-grants", json={"template_id": t, "segment": "all"})
    took = time.perf_counter() - started
    assert r.status_code == 201 and r.get_json()["granted"] == args.fans, r.get_json()
    print(f"[{name}] grant to {args.fans} fans: {took:.2f} s ({took / args.fans * 1000:.2f} ms per fan)")

    t = template(admin)
    buyers = [login(client, f"claimer-{i}") for i in range(args.claims)]
    times = []
    for b in buyers:
        started = time.perf_counter()
        assert b.post(f"/coupon-templates/{t}/claim").status_code == 201
        times.append(time.perf_counter() - started)
    print(f"[{name}] claim: {ms(times)}")

    buyer = login(client, "orderer")
    coupons = [buyer.post(f"/coupon-templates/{t}/claim").get_json()["id"] for _ in range(args.orders)]
    plain, with_coupon = [], []
    for c in coupons:
        for out, extra in ((plain, {}), (with_coupon, {"coupon_id": c})):
            started = time.perf_counter()
            r = buyer.post("/orders", json={"items": [{"sku_id": sku, "qty": 1}], "pickup_point_id": point, **extra})
            out.append(time.perf_counter() - started)
            assert r.status_code == 201, r.get_json()
    print(f"[{name}] POST /orders without a coupon: {ms(plain)}; with one: {ms(with_coupon)}")
    app.extensions["linli.engine"].dispose()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--fans", type=int, default=2000)
    p.add_argument("--claims", type=int, default=100)
    p.add_argument("--orders", type=int, default=50)
    args = p.parse_args()
    redis = RedisServer()
    try:
        with tempfile.TemporaryDirectory() as d:
            run("sqlite", f"sqlite:///{d}/bench.db", redis.url(), args)
        pg = PostgresCluster()
        try:
            run("postgresql", pg.create_database("bench_coupons"), redis.url(1), args)
        finally:
            pg.stop()
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
