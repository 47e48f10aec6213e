"""Benchmark: the earnings ledger on SQLite and PostgreSQL, in-process (the service code the
endpoints and jobs run).

1. Credits: --credits settled-commission credits to one leader, one transaction each (the
   settlement job's unit of work): credits per second.
2. Races: --rounds rounds of --threads threads each asking, at the same moment, to withdraw the
   leader's whole balance (`request_withdrawal`, a real transaction each): the wall time of a round,
   and a check that every round let exactly one through.
3. The books check: `ledger_discrepancies()` over --leaders leaders with --entries entries each
   (bulk-loaded as chained credits), median of 5 runs; the reconciliation runs it daily.

Run: .venv/bin/python bench/earnings.py [--postgres-only | --sqlite-only] [--leaders N] [--entries N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402
from sqlmodel import select  # noqa: E402

from app import create_app  # noqa: E402
from app.auth.models import User  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import transaction, utcnow  # noqa: E402
from app.earnings import service as earnings_service  # noqa: E402
from app.earnings import withdrawals  # noqa: E402
from app.earnings.errors import InsufficientEarnings, WithdrawalLimitReached  # noqa: E402
from app.earnings.models import EarningsAccount, EarningsEntry  # noqa: E402
from app.leader.models import Leader  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from tests.services import PostgresCluster  # noqa: E402


def make_app(url: str):
    upgrade(url)
    return create_app(Settings(env="test", database_url=url, redis_url="redis://127.0.0.1:1/0",
                               ratelimit_enabled=False, withdraw_daily_count=10**6))


def leaders(app, n: int) -> list[int]:
    with app.app_context(), transaction() as s:
        now = utcnow()
        s.execute(insert(User), [{"openid": f"bench-{i}", "nickname": f"团长{i}", "is_admin": False, "created_at": now}
                                 for i in range(n)])
        ids = list(s.exec(select(User.id).order_by(User.id)))
        s.execute(insert(Leader), [{"user_id": uid, "real_name": "团长", "phone": "139", "active": True,
                                    "created_at": now} for uid in ids])
        return list(s.exec(select(Leader.id).order_by(Leader.id)))


def credits(app, leader_id: int, n: int) -> float:
    t = time.perf_counter()
    with app.app_context():
        for i in range(n):
            with transaction() as s:
                earnings_service.commission_settled(s, leader_id=leader_id, commission_id=i + 1, amount=100)
    return n / (time.perf_counter() - t)


def races(app, leader_id: int, threads: int, rounds: int) -> tuple[list[float], int]:
    settings = app.extensions["linli.settings"]
    times, wrong = [], 0
    for r in range(rounds):
        with app.app_context(), transaction() as s:
            earnings_service.commission_settled(s, leader_id=leader_id, commission_id=10**6 + r, amount=5000)
            whole = s.get(EarningsAccount, leader_id).available
        barrier = threading.Barrier(threads)
        won = []

        def one():
            barrier.wait()
            with app.app_context():
                try:
                    with transaction() as s:
                        withdrawals.request_withdrawal(s, settings=settings, leader_id=leader_id, amount=whole)
                    won.append(1)
                except (InsufficientEarnings, WithdrawalLimitReached):
                    pass
        ts = [threading.Thread(target=one) for _ in range(threads)]
        t = time.perf_counter()
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        times.append(time.perf_counter() - t)
        wrong += len(won) != 1
    return times, wrong


def books(app, ids: list[int], per: int) -> float:
    with app.app_context(), transaction() as s:
        now = utcnow()
        rows = [{"leader_id": lid, "amount": 100, "kind": "commission", "source": f"bench:{lid}:{k}",
                 "balance_after": 100 * (k + 1), "created_at": now} for lid in ids for k in range(per)]
        for i in range(0, len(rows), 10_000):
            s.execute(insert(EarningsEntry), rows[i:i + 10_000])
        s.execute(insert(EarningsAccount), [{"leader_id": lid, "available": 100 * per, "frozen": 0, "withdrawn": 0,
                                             "clawback_owed": 0, "updated_at": now} for lid in ids])
    runs = []
    with app.app_context():
        for _ in range(5):
            t = time.perf_counter()
            with transaction() as s:
                found = earnings_service.ledger_discrepancies(s)
            runs.append(time.perf_counter() - t)
            assert found == [], found[:3]
    return statistics.median(runs)


def run(name: str, url: str, a) -> None:
    app = make_app(url)
    ids = leaders(app, a.leaders + 1)
    rate = credits(app, ids[0], a.credits)
    times, wrong = races(app, ids[0], a.threads, a.rounds)
    check = books(app, ids[1:], a.entries)
    print(f"{name}: {rate:,.0f} credits/s (one transaction each); {a.threads} racing withdrawals of the whole "
          f"balance: median round {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms, "
          f"rounds with other than exactly one winner: {wrong}/{a.rounds}; books check over {a.leaders:,} leaders x "
          f"{a.entries} entries: {check * 1000:.0f} ms")
    app.extensions["linli.engine"].dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--credits", type=int, default=2000)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--leaders", type=int, default=1000)
    p.add_argument("--entries", type=int, default=50)
    p.add_argument("--sqlite-only", action="store_true")
    p.add_argument("--postgres-only", action="store_true")
    a = p.parse_args()
    if not a.postgres_only:
        run("SQLite", f"sqlite:///{tempfile.mkdtemp()}/earnings.db", a)
    if not a.sqlite_only:
        cluster = PostgresCluster()
        try:
            run("PostgreSQL", cluster.create_database("earnings_bench"), a)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
