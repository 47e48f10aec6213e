"""Benchmark: how late time-driven work happens in the `make run` list of processes (one
`linli worker`, one `linli scheduler`), under load.

What it does, in order:

1. Its own redis-server and a SQLite file (or, with --postgresql, a throwaway PostgreSQL cluster
   started as the tests start theirs); `db upgrade`; a leader's point, a SKU, --buyers buyers
   bound to the point, a flash sale, and group-buy campaigns whose windows spread the groups'
   deadlines over --spread seconds.
2. Starts --workers `linli worker` and one `linli scheduler`, then loads the only worker: two
   25-second jobs (a long manifest build, say) queued ahead of everything, and flash purchases
   at about --rate a second for the whole run.
3. Opens --groups groups (each leaves its opener's order unpaid: the group's deadline is the
   timer) and places --orders plain orders left unpaid (LINLI_PAYMENT_TIMEOUT_S=20 here: the
   order's expiry is the timer).
4. Polls until every group is closed and every order cancelled, and prints the lateness
   (closed_at − expires_at, cancelled_at − pay_before) and each flash reservation's time from
   its 202 to `confirmed`: p50, p90, p99, max, and how many missed the contract (10 s, 2 s).

    python bench/timers.py                      # SQLite, as `make run`
    python bench/timers.py --postgresql
    python bench/timers.py --no-clockwork       # the workers' drainer and deadline keeper off: before
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ops.real_server import cli_env, migrate  # noqa: E402
from tests.services import PostgresCluster, RedisServer  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def summary(name: str, xs: list[float], bound: float) -> str:
    if not xs:
        return f"{name}: none measured"
    return (f"{name}: n={len(xs)} p50={pct(xs, 50):.2f}s p90={pct(xs, 90):.2f}s p99={pct(xs, 99):.2f}s "
            f"max={max(xs):.2f}s mean={statistics.fmean(xs):.2f}s over {bound:g}s: {sum(x > bound for x in xs)}")


def seed(app, n_buyers: int, spread: int):
    from sqlalchemy import insert, select

    from app.auth.models import User
    from app.catalog import service as catalog_service
    from app.db import transaction
    from app.flashsale import service as flash
    from app.groupbuy import service as group_service
    from app.leader.models import Leader
    from app.pickup import service as pickup_service

    with app.app_context():
        with transaction() as s:
            lead = User(openid="timers-leader")
            s.add(lead)
            s.flush()
            leader = Leader(user_id=lead.id, real_name="团长", phone="13900000000")
            s.add(leader)
            s.flush()
            point = pickup_service.create_point(s, leader_id=leader.id, name="点", address="某路1号", lat=30.27,
                                                lng=120.15, service_radius_m=3000, opening_hours=None)
            _, skus = catalog_service.create_product(s, name="西瓜", description="", images=[],
                                                     skus=[{"name": "一个", "price": 1990, "stock": 10_000_000}])
            now = datetime.now(timezone.utc)
            sale = flash.create_sale(s, sku_id=skus[0].id, price=990, stock=1_000_000, starts_at=now,
                                     ends_at=now + timedelta(hours=2), per_user_limit=999)
            campaigns = [group_service.create_campaign(s, sku_id=skus[0].id, group_price=990, group_size=3,
                                                       duration_s=d, starts_at=now - timedelta(minutes=1),
                                                       ends_at=now + timedelta(hours=2)).id
                         for d in range(20, 20 + spread)]
            s.execute(insert(User), [{"openid": f"timers-{i}", "nickname": "", "is_admin": False,
                                      "pickup_point_id": point.id, "created_at": now} for i in range(n_buyers)])
            ids = list(s.execute(select(User.id).where(User.openid.like("timers-%"), User.id != lead.id)).scalars())
        return skus[0].id, sale.id, campaigns, ids, point.id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", type=int, default=300)
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--spread", type=int, default=30, help="deadlines spread over this many seconds")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--rate", type=float, default=40, help="flash purchases a second")
    ap.add_argument("--postgresql", action="store_true")
    ap.add_argument("--no-clockwork", action="store_true", help="LINLI_FLASH_DRAIN_TICK_S=0 LINLI_DEADLINE_TICK_S=0")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="linli-timers-"))
    redis = RedisServer()
    pg = PostgresCluster() if args.postgresql else None
    procs: list[subprocess.Popen] = []
    try:
        extra = {"LINLI_PAYMENT_TIMEOUT_S": "20", "LINLI_MAX_UNPAID_ORDERS": "50"}
        if args.no_clockwork:
            extra.update(LINLI_FLASH_DRAIN_TICK_S="0", LINLI_DEADLINE_TICK_S="0")
        env = cli_env(tmp, redis.url(3), **extra)
        if pg:
            env["LINLI_DATABASE_URL"] = pg.create_database("timers")
        migrate(env)
        os.environ.update({k: v for k, v in env.items() if k.startswith("LINLI_")})
        from app.config import Settings
        from app.factory import create_app

        app = create_app(Settings())
        n_buyers = max(args.groups, args.orders)
        sku_id, sale_id, campaigns, buyers, point_id = seed(app, n_buyers, args.spread)

        # The load first: the only worker is busy for 50 s with two long jobs.
        from redis import Redis
        from rq import Queue

        q = Queue(env["LINLI_QUEUE_NAME"], connection=Redis.from_url(env["LINLI_REDIS_URL"]))
        for _ in range(2):
            q.enqueue("time.sleep", 25, job_timeout=120)
        for name in ["worker"] * args.workers + ["scheduler"]:
            log = open(tmp / f"{name}-{len(procs)}.log", "wb")
            procs.append(subprocess.Popen([sys.executable, "-m", "app.cli", name], env=env, stdout=log,
                                          stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True))
        time.sleep(3)

        flash_lat: list[float] = []
        stop = threading.Event()

        def buy_flash():
            from app.flashsale import service as flash

            with app.app_context():
                i = 0
                pending: list[tuple[str, int, float]] = []
                next_at = time.monotonic()
                while not stop.is_set() or pending:
                    now = time.monotonic()
                    if not stop.is_set() and now >= next_at:
                        user = buyers[i % len(buyers)]
                        i += 1
                        res = flash.purchase(sale_id=sale_id, user_id=user, qty=1, pickup_point_id=None,
                                             idem_key=None, rate=None)
                        pending.append((res, user, time.monotonic()))
                        next_at += 1 / args.rate
                    still = []
                    for res, user, t0 in pending:
                        if flash.reservation(res_id=res, user_id=user).status == "pending":
                            if time.monotonic() - t0 < 120:
                                still.append((res, user, t0))
                        else:
                            flash_lat.append(time.monotonic() - t0)
                    pending = still
                    time.sleep(0.02)

        buyer_thread = threading.Thread(target=buy_flash, daemon=True)
        buyer_thread.start()

        from app.db import transaction
        from app.groupbuy import service as group_service
        from app.order import placing

        settings = app.extensions["linli.settings"]
        with app.app_context():
            for i in range(max(args.groups, args.orders)):
                with transaction() as s:
                    if i < args.groups:
                        group_service.open_group(s, settings=settings, campaign_id=campaigns[i % len(campaigns)],
                                                 buyer_id=buyers[i], qty=1, pickup_point_id=point_id)
                    if i < args.orders:
                        placing.place_order(s, settings=settings, buyer_id=buyers[i],
                                            lines=[placing.Line(sku_id=sku_id, qty=1)], pickup_point_id=point_id)
        print(f"{args.groups} groups and {args.orders} unpaid orders placed; waiting for their moments "
              f"(one worker busy with two 25 s jobs, flash purchases at {args.rate:g}/s)...", flush=True)

        from sqlalchemy import text

        from app.db import get_engine

        deadline = time.monotonic() + args.spread + 150
        with app.app_context():
            eng = get_engine()
            while time.monotonic() < deadline:
                with eng.connect() as c:
                    open_groups = c.execute(text("SELECT count(*) FROM buy_groups WHERE closed_at IS NULL")).scalar()
                    unpaid = c.execute(text("SELECT count(*) FROM orders WHERE source = 'plain' AND cancelled_at IS NULL "
                                            "AND paid_at IS NULL")).scalar()
                if not open_groups and not unpaid:
                    break
                time.sleep(1)
            stop.set()
            buyer_thread.join(150)
            with eng.connect() as c:
                groups = c.execute(text("SELECT expires_at, closed_at FROM buy_groups")).all()
                orders = c.execute(text("SELECT pay_before, cancelled_at FROM orders WHERE source = 'plain'")).all()
                flash_orders = c.execute(text("SELECT source_ref, created_at FROM orders "
                                              "WHERE source = 'flash_sale'")).all()
            # The same latency from the records themselves, free of this process's own pauses:
            # the reservation's stream entry id (Redis's clock, ms) to its order's created_at.
            from app.flashsale.service import keys, rds

            entered = {f"{sale_id}-{f['n']}": int(eid.split("-")[0]) / 1000
                       for eid, f in rds().xrange(keys(sale_id)["stream"])}

        def late(rows) -> tuple[list[float], int]:
            out, never = [], 0
            for due, done in rows:
                if done is None:
                    never += 1
                    continue
                due, done = (d if isinstance(d, datetime) else datetime.fromisoformat(str(d)) for d in (due, done))
                due, done = (d.replace(tzinfo=None) if d.tzinfo else d for d in (due, done))
                out.append((done - due).total_seconds())
            return out, never

        g, g_never = late(groups)
        o, o_never = late(orders)
        mode = "PostgreSQL" if pg else "SQLite"
        print(f"\n{mode}, {args.workers} worker(s) + scheduler, clockwork {'off' if args.no_clockwork else 'on'}:")
        print(summary("group deadline -> closed", g, 10) + f"; never closed: {g_never}")
        print(summary("unpaid order pay_before -> cancelled", o, 10) + f"; never cancelled: {o_never}")
        print(summary("flash 202 -> confirmed (seen by polling from this process)", flash_lat, 2))
        made = [(c if isinstance(c, datetime) else datetime.fromisoformat(str(c))) for _, c in flash_orders]
        made = [c if c.tzinfo else c.replace(tzinfo=timezone.utc) for c in made]
        from_records = [m.timestamp() - entered[ref] for (ref, _), m in zip(flash_orders, made) if ref in entered]
        print(summary("flash reservation queued -> order created (from the records)", from_records, 2))
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
            p.wait()
        if pg:
            pg.stop()
        redis.stop()


if __name__ == "__main__":
    main()
