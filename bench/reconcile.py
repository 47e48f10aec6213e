"""Reconciliation of one busy day: how long reading WeChat Pay's trade bill and matching it against
our payments and refunds takes, on SQLite (a temp file) or an empty PostgreSQL database.

    .venv/bin/python bench/reconcile.py                       # 100,000 payments, 10,000 refunds
    .venv/bin/python bench/reconcile.py --payments 20000 --refunds 2000
    .venv/bin/python bench/reconcile.py --postgres            # a throwaway PostgreSQL 15 cluster
    .venv/bin/python bench/reconcile.py --database-url postgresql+psycopg://app@127.0.0.1:5432/empty_db

Payments and refunds are bulk-loaded with SQL core (foreign keys to orders are not enforced for the
load: the matching reads payments and refunds only), plus the same number of payments on the days
either side (what the day's query must skip). The bill holds every line of the day with 0.1% of
amounts changed, so the run also reports discrepancies. Figures: the bill's parse, the matching
(database reads included), and the findings.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sqlalchemy import create_engine, text  # noqa: E402

from app.migrate import upgrade  # noqa: E402

CST = timezone(timedelta(hours=8))
DAY = date(2026, 12, 3)


def load(url: str, payments: int, refunds: int) -> None:
    engine = create_engine(url)

    def stamp(at: datetime):
        # As the app's UTC column writes it (SQLite compares these as text: microseconds included).
        naive = at.astimezone(timezone.utc).replace(tzinfo=None)
        return naive.isoformat(sep=" ", timespec="microseconds") if engine.dialect.name == "sqlite" else naive
    start = datetime.combine(DAY, datetime.min.time(), tzinfo=CST)
    pay_rows, refund_rows = [], []
    for day_offset in (-1, 0, 1):
        for i in range(payments):
            at = start + timedelta(days=day_offset, seconds=i * 86400 // payments)
            n = (day_offset + 1) * payments + i + 1
            pay_rows.append({"id": n, "order_id": n, "provider": "wechatpay", "transaction_id": f"42{n:026d}",
                             "amount": 1990 + i % 500, "refunded_amount": 0, "status": "applied",
                             "payload": json.dumps({"success_time": at.isoformat()}),
                             "created_at": stamp(at)})
    for i in range(refunds):
        n = payments + i + 1  # refunds of the day's payments
        at = stamp(start + timedelta(seconds=i * 86400 // refunds))
        refund_rows.append({"id": i + 1, "order_id": n, "payment_id": n, "out_refund_no": f"RF{n:010d}x{i:011d}",
                            "provider": "wechatpay", "transaction_id": f"42{n:026d}", "amount": 100, "total": 1990,
                            "reason": "bench", "status": "processing", "attempts": 1, "created_at": at,
                            "updated_at": at})
    with engine.begin() as c:
        if engine.dialect.name == "sqlite":
            c.exec_driver_sql("PRAGMA foreign_keys=OFF")
        else:
            c.exec_driver_sql("SET session_replication_role = replica")  # no FK triggers for the load
        c.execute(text("INSERT INTO payments (id, order_id, provider, transaction_id, amount, refunded_amount, "
                       "status, payload, created_at) VALUES (:id, :order_id, :provider, :transaction_id, :amount, "
                       ":refunded_amount, :status, :payload, :created_at)"), pay_rows)
        c.execute(text("INSERT INTO refunds (id, order_id, payment_id, out_refund_no, provider, transaction_id, "
                       "amount, total, reason, status, attempts, created_at, updated_at) VALUES (:id, :order_id, "
                       ":payment_id, :out_refund_no, :provider, :transaction_id, :amount, :total, :reason, :status, "
                       ":attempts, :created_at, :updated_at)"), refund_rows)
        c.exec_driver_sql("ANALYZE")
    engine.dispose()


def bill(payments: int, refunds: int) -> str:
    from tests.fakes.wechatpay_bills import TRADE_HEADER, TRADE_SUMMARY, yuan

    lines = []
    for i in range(payments):
        n = payments + i + 1
        amount = 1990 + i % 500 + (1 if i % 1000 == 0 else 0)  # 0.1% disagree
        lines.append("`" + ",`".join(["2026-12-03 10:00:00", "wx", "1900000109", "0", "", f"42{n:026d}",
                                      f"LL{n:012d}", "o", "JSAPI", "SUCCESS", "OTHERS", "CNY", yuan(amount), "0.00",
                                      "0", "0", "0.00", "0.00", "", "", "linli", "", "0.00000", "0.60%",
                                      yuan(amount), "0.00", ""]))
    for i in range(refunds):
        n = payments + i + 1
        lines.append("`" + ",`".join(["2026-12-03 11:00:00", "wx", "1900000109", "0", "", f"42{n:026d}",
                                      f"LL{n:012d}", "o", "JSAPI", "REFUND", "OTHERS", "CNY", "0.00", "0.00", "5",
                                      f"RF{n:010d}x{i:011d}", "1.00", "0.00", "ORIGINAL", "SUCCESS", "linli", "",
                                      "0.00000", "0.60%", "0.00", "1.00", ""]))
    return "\r\n".join([TRADE_HEADER, *lines, TRADE_SUMMARY, f"`{len(lines)},`0,`0,`0,`0,`0,`0"]) + "\r\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--payments", type=int, default=100_000)
    ap.add_argument("--refunds", type=int, default=10_000)
    ap.add_argument("--database-url", default=None, help="an EMPTY database (default: a temp SQLite file)")
    ap.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL 15 cluster and use it")
    args = ap.parse_args()
    cluster = None
    if args.postgres:
        from tests.services import PostgresCluster

        cluster = PostgresCluster()
        args.database_url = cluster.create_database("bench_reconcile")
    try:
        run(args)
    finally:
        if cluster is not None:
            cluster.stop()


def run(args) -> None:

    from app.config import Settings
    from app.db import transaction
    from app.factory import create_app
    from app.payment import bills
    from app.reconcile import service

    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/reconcile.db"
    upgrade(url)
    t = time.perf_counter()
    load(url, args.payments, args.refunds)
    print(f"loaded {3 * args.payments:,} payments (a third on the day) and {args.refunds:,} refunds "
          f"in {time.perf_counter() - t:.1f} s ({url.split(':')[0]})")

    data = bill(args.payments, args.refunds).encode("utf-8")
    t, cpu = time.perf_counter(), time.process_time()
    lines = bills.trade_lines(bills.parse_bill(data))
    parse_s, parse_cpu = time.perf_counter() - t, time.process_time() - cpu
    print(f"trade bill: {len(data) / 1e6:.1f} MB, {len(lines):,} lines read in {parse_s:.2f} s "
          f"({parse_cpu:.2f} s CPU)")

    app = create_app(Settings(env="test", database_url=url, redis_url="redis://127.0.0.1:1/0"))
    with app.app_context():
        t, cpu = time.perf_counter(), time.process_time()
        with transaction() as s:
            findings, totals = service.match_day(s, day=DAY, trade=lines, fund=[], transfer_sources=[],
                                                 book_checks={})
        match_s, match_cpu = time.perf_counter() - t, time.process_time() - cpu
    print(f"matched in {match_s:.2f} s ({match_cpu:.2f} s CPU here): {len(findings):,} discrepancies "
          f"(expected {len(range(0, args.payments, 1000)):,}), ours {totals['ours']['payments']['count']:,} payments "
          f"{totals['ours']['refunds']['count']:,} refunds")


if __name__ == "__main__":
    main()
