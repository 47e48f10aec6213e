"""Benchmark: GET /leader/fans's one statement on PostgreSQL, with EXPLAIN (ANALYZE, BUFFERS).

A throwaway PostgreSQL cluster (tests/services.py), migrated, then loaded in SQL (generate_series,
foreign keys not checked while loading): --users buyers (default 300,000), --fans of them (default
3,000) bound to a big point, the others to points of 200, all with --orders-per-fan orders on
average (default 3) at their point (a point's buyers interleaved in id order, as sign-ups are); orders created over the last 120 days, 85% picked up, 5% each
cancelled, refunded and unpaid; one line per order, 2% with a unit refunded. ANALYZE.

Then, for each segment, `app.workbench.fans.list_fans` (the code the endpoint runs) on the big point:
the first page and a page from the middle (limit 20), median of 7 runs, and the plan of the first
page; then the same with the old users(pickup_point_id) index instead of
users(pickup_point_id, id, bound_at), and with orders(pickup_point_id, created_at) or with an orders(buyer_id, pickup_point_id, created_at) index added. Times are the server's
(EXPLAIN ANALYZE's Execution Time): the client's include Python and are noisy on a shared machine.

Run: .venv/bin/python bench/fans.py [--fans N] [--orders-per-fan N] [--explain]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from tests.services import PostgresCluster  # noqa: E402

NOW = datetime(2030, 6, 1, 10, 0, tzinfo=timezone.utc)
OTHER_FANS = 200


def load(engine, users: int, fans: int, per_fan: int) -> tuple[int, int]:
    other_points = (users - fans) // OTHER_FANS
    with engine.begin() as c:
        c.exec_driver_sql("SET session_replication_role = replica")  # no FK checks while loading
        c.execute(text("""
            INSERT INTO users (id, openid, nickname, is_admin, pickup_point_id, bound_at, created_at)
            SELECT g, 'o' || g, '邻居' || g, false,
                   CASE WHEN g % :every = 0 THEN 1 ELSE 2 + g % :others END,
                   :now - random() * interval '365 days', :now - interval '400 days'
            FROM generate_series(1, :users) g"""),
                  {"every": users // fans, "others": other_points, "users": users, "now": NOW})
        c.execute(text("""
            INSERT INTO orders (id, buyer_id, pickup_point_id, leader_id, status, source, total, created_at)
            SELECT g, b, CASE WHEN b % :every = 0 THEN 1 ELSE 2 + b % :others END,
                   CASE WHEN b % :every = 0 THEN 1 ELSE 2 + b % :others END,
                   CASE WHEN r < 0.85 THEN 'picked_up' WHEN r < 0.90 THEN 'cancelled'
                        WHEN r < 0.95 THEN 'refunded' ELSE 'pending_payment' END,
                   'plain', 1990, :now - random() * interval '120 days'
            FROM (SELECT g, 1 + floor(random() * :users)::int AS b, random() AS r
                  FROM generate_series(1, :orders) g) s"""),
                  {"users": users, "orders": users * per_fan, "every": users // fans, "others": other_points,
                   "now": NOW})
        c.execute(text("""
            INSERT INTO order_items (id, order_id, sku_id, product_name, sku_name, qty, unit_price, amount,
                                     refunded_qty)
            SELECT id, id, 1, '西瓜', '一个', 1, 1990, 1990, CASE WHEN random() < 0.02 THEN 1 ELSE 0 END
            FROM orders"""))
        for table in ("users", "orders", "order_items"):
            c.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE")
    return users, users * per_fan


VARIANTS = {
    "as migrated": ([], []),
    # The index before 0012_fans: pages must sort all of a point's fans.
    "users(pickup_point_id) only": (["DROP INDEX ix_users_point_id",
                                     "CREATE INDEX ix_users_pickup_point_id ON users (pickup_point_id)"],
                                    ["DROP INDEX ix_users_pickup_point_id",
                                     "CREATE INDEX ix_users_point_id ON users (pickup_point_id, id, bound_at)"]),
    "+ orders(pickup_point_id, created_at)": (
        ["CREATE INDEX ix_orders_point_created ON orders (pickup_point_id, created_at)"],
        ["DROP INDEX ix_orders_point_created"]),
    "+ orders(buyer_id, pickup_point_id, created_at)": (
        ["CREATE INDEX ix_orders_buyer_point_created ON orders (buyer_id, pickup_point_id, created_at)"],
        ["DROP INDEX ix_orders_buyer_point_created"]),
}


def ddl(engine, statements: list[str]) -> None:
    with engine.begin() as c:
        for st in statements:
            c.exec_driver_sql(st)
        c.exec_driver_sql("ANALYZE users")
        c.exec_driver_sql("ANALYZE orders")


def execution_ms(engine, statement, params) -> float:
    with engine.connect() as c:
        plan = [r[0] for r in c.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()]
    return float(next(line for line in plan if line.startswith("Execution Time")).split()[2]), plan


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=300_000)
    ap.add_argument("--fans", type=int, default=3_000, help="of them, bound to the big point")
    ap.add_argument("--orders-per-fan", type=int, default=3)
    ap.add_argument("--explain", action="store_true", help="print each segment's first-page plan (as migrated)")
    args = ap.parse_args()

    from app.migrate import upgrade
    from app.workbench import fans as fans_service

    pg = PostgresCluster()
    try:
        url = pg.create_database("bench_fans")
        upgrade(url)
        engine = create_engine(url)
        t = time.perf_counter()
        users, orders = load(engine, args.users, args.fans, args.orders_per_fan)
        print(f"loaded {users:,} users, {orders:,} orders in {time.perf_counter() - t:.1f}s; "
              f"big point: {args.fans:,} fans; limit 20; server Execution Time (EXPLAIN ANALYZE), median of 7")
        captured: list = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            captured.append((statement, parameters))

        for name, (apply, undo) in VARIANTS.items():
            ddl(engine, apply)
            print(f"-- {name}")
            for segment in fans_service.SEGMENTS:
                line = []
                for label, before in (("first page", None), ("middle page", users // 2)):
                    with Session(engine) as s:
                        s.connection()
                        event.listen(engine, "before_cursor_execute", capture)
                        try:
                            rows = fans_service.list_fans(s, pickup_point_id=1, leader_user_id=0, segment=segment,
                                                          before_id=before, limit=20, now=NOW)
                        finally:
                            event.remove(engine, "before_cursor_execute", capture)
                    assert len(captured) == 1, captured
                    statement, params = captured.pop()
                    runs = [execution_ms(engine, statement, params) for _ in range(7)]
                    line.append(f"{label} {statistics.median(r[0] for r in runs):6.2f} ms ({len(rows)} rows)")
                    if args.explain and before is None and name == "as migrated":
                        print("\n".join("    " + p for p in runs[0][1]))
                print(f"{segment:>6}: " + ", ".join(line))
            ddl(engine, undo)
        engine.dispose()
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
