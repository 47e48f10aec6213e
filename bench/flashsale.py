"""Benchmark: the flash-sale hot path (POST /api/v1/flash-sales/{id}/purchase) against /healthz on
the same server, and one worker's reservations → orders drain rate.

What it does, in order:

1. A SQLite file in a temp dir and its own redis-server; `db upgrade`; an admin, a leader's point,
   a SKU and one flash sale with stock enough for the whole run; ``--users`` buyers inserted in
   bulk (bound to the point) and a token minted for each (the server's own signing key).
2. In-process: what the caller's identity costs, the full principal (JWT + user and leader reads)
   against the token-only one the purchase path uses.
3. Starts ``linli serve`` (gunicorn gthread, the default worker count, rate limiting off) and runs
   ``wrk -t2 -c64`` with a Lua script against /healthz and against purchase (each request a random
   buyer's token), alternately for ``--rounds`` rounds; prints the median round.
   Then one round against a second sale, sold out: what a refusal costs (most answers of a real
   sale once it sells out).
4. Stops the server and drains every reservation the purchase runs made into orders with one
   in-process worker (`drain_sale`, batches of LINLI_FLASH_DRAIN_BATCH), timing orders/s.

Floors (issue 7, this 2-core machine): purchase ≥ 0.6× /healthz requests/s, p99 < 50 ms at 64
connections, drain ≥ 2,000 orders/s. Exit status 0 whether or not they are met.

    python bench/flashsale.py                  # make bench
    python bench/flashsale.py --duration 5 --rounds 1
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ops.real_server import cli_env, migrate, start  # noqa: E402
from tests.services import RedisServer  # noqa: E402

SECRET = "bench-flash-secret-3f9a1c7e5b2d8046afce"

WRK_SCRIPT = r"""
local mode, sale = "%(mode)s", %(sale)d
local tokens = {%(tokens)s}
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
-- Every request is formatted once, up front (as wrk's own examples do): what is measured is the
-- server, not the load generator building strings.
local reqs = {}
function init(args)
  math.randomseed(%(seed)d + tid * 7919)
  if mode == "healthz" then
    reqs[1] = wrk.format("GET", "/healthz")
  else
    for i, t in ipairs(tokens) do
      reqs[i] = wrk.format("POST", "/api/v1/flash-sales/" .. sale .. "/purchase",
                           {["Authorization"] = "Bearer " .. t, ["Content-Type"] = "application/json"},
                           '{"qty": 1}')
    end
  end
end
function request()
  return reqs[math.random(#reqs)]
end
local codes = {}
function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %%d, \"duration_us\": %%d, \"p50_us\": %%d, \"p99_us\": %%d, " ..
    "\"status_errors\": %%d, \"socket_errors\": %%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def wrk(port: int, mode: str, *, sale: int, tokens: list[str], duration: int, connections: int, tmp: Path,
        seed: int) -> dict:
    script = tmp / f"wrk-{mode}.lua"
    script.write_text(WRK_SCRIPT % {"mode": mode, "sale": sale, "seed": seed,
                                    "tokens": ",".join(f'"{t}"' for t in tokens)})
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "5s", "-s", str(script),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, timeout=duration + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    d = json.loads(line[len("WRKJSON "):])
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {"rps": d["requests"] / (d["duration_us"] / 1e6), "p50_ms": d["p50_us"] / 1000,
            "p99_ms": d["p99_us"] / 1000, "requests": d["requests"], "errors": d["status_errors"] + d["socket_errors"],
            "wrk_cpu_ms": wrk_cpu_s * 1000 / max(d["requests"], 1)}


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children (gunicorn's master and workers), Linux /proc."""
    pids = [pid]
    try:
        pids += [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return float("nan")
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def redis_cpu_s(client) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def seed_world(app, n_users: int) -> tuple[int, list[str]]:
    """An admin, a leader and point, a SKU, a sale, and n bound buyers with tokens, in bulk."""
    from flask_jwt_extended import create_access_token
    from sqlalchemy import insert, select

    from app.auth.models import User
    from app.catalog import service as catalog_service
    from app.db import transaction
    from app.flashsale import service as flash
    from app.leader.models import Leader
    from app.pickup import service as pickup_service

    with app.app_context():
        with transaction() as s:
            lead = User(openid="bench-leader")
            s.add(lead)
            s.flush()
            leader = Leader(user_id=lead.id, real_name="团长", phone="13900000000")
            s.add(leader)
            s.flush()
            point = pickup_service.create_point(s, leader_id=leader.id, name="点", address="某路1号", lat=30.27,
                                                lng=120.15, service_radius_m=3000, opening_hours=None)
            _, skus = catalog_service.create_product(s, name="秒杀", description="", images=[],
                                                     skus=[{"name": "一个", "price": 1990, "stock": 2_000_000}])
            now = datetime.now(timezone.utc)
            sale = flash.create_sale(s, sku_id=skus[0].id, price=990, stock=1_000_000, starts_at=now,
                                     ends_at=now + timedelta(hours=2), per_user_limit=99)
            s.execute(insert(User), [{"openid": f"bench-{i}", "nickname": "", "is_admin": False,
                                      "pickup_point_id": point.id, "created_at": now} for i in range(n_users)])
            ids = list(s.execute(select(User.id).where(User.openid.like("bench-%"), User.id != lead.id)).scalars())
        sale_id = sale.id
        tokens = [create_access_token(identity=str(i), additional_claims={"roles": ["buyer"]}) for i in ids]
    return sale_id, tokens


def sold_out_sale(app, token: str) -> int:
    """A second sale of the same SKU, one unit, already bought: every purchase is a 409 sold_out."""
    from flask_jwt_extended import decode_token

    from app.db import transaction
    from app.flashsale import service as flash
    from app.flashsale.models import FlashSale

    with app.app_context():
        with transaction() as s:
            first = s.get(FlashSale, 1)
            now = datetime.now(timezone.utc)
            sale = flash.create_sale(s, sku_id=first.sku_id, price=990, stock=1, starts_at=now,
                                     ends_at=now + timedelta(hours=2), per_user_limit=1)
        flash.purchase(sale_id=sale.id, user_id=int(decode_token(token)["sub"]), qty=1, pickup_point_id=None,
                       idem_key=None)
        return sale.id


def principal_costs(app, token: str, n: int = 2000) -> tuple[float, float]:
    from flask import g

    from app.auth.security import load_principal, token_user_id

    out = []
    for fn in (load_principal, token_user_id):
        with app.test_request_context(headers={"Authorization": f"Bearer {token}"}):
            fn()
            t0 = time.perf_counter()
            for _ in range(n):
                g.pop("principal", None)
                g.pop("token_user_id", None)
                fn()
            out.append((time.perf_counter() - t0) / n * 1000)
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--workers", type=int, default=None, help="gunicorn processes (default: linli serve's)")
    ap.add_argument("--threads", type=int, default=None, help="threads per process (default: linli serve's)")
    ap.add_argument("--flash-redis", choices=("tcp", "unix"), default="tcp",
                    help="how the server reaches the sale's Redis (LINLI_FLASH_REDIS_URL): loopback TCP, or the "
                         "same redis-server's Unix socket (a Redis on the API's own host)")
    ap.add_argument("--no-lane", action="store_true",
                    help="LINLI_FLASH_LANE=0: every purchase through Flask, as before the purchase had its own lane")
    ap.add_argument("--ratelimit", action="store_true",
                    help="rate limiting on (as in production) with limits too high to refuse anything: "
                         "what counting costs")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: scripts/ensure-packages.sh wrk")

    load0 = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="linli-bench-flash-"))
    redis = RedisServer()
    server = None
    try:
        env = cli_env(tmp, redis.url(0), LINLI_SECRET_KEY=SECRET, LINLI_ACCESS_LOG="off")
        if args.flash_redis == "unix":
            env["LINLI_FLASH_REDIS_URL"] = redis.unix_url(0)
        if args.no_lane:
            env["LINLI_FLASH_LANE"] = "0"
        if args.ratelimit:
            env.update(LINLI_RATELIMIT_ENABLED="1", LINLI_RATELIMIT_DEFAULT="1000000 per minute",
                       LINLI_FLASH_RATELIMIT_USER="100000 per second", LINLI_FLASH_RATELIMIT_IP="1000000 per second")
        migrate(env)
        os.environ.update({k: v for k, v in env.items() if k.startswith("LINLI_")})
        from app import create_app
        from app.config import Settings

        app = create_app(Settings())
        sale, tokens = seed_world(app, args.users)
        full_ms, light_ms = principal_costs(app, tokens[0])

        serve_args = (["serve"] + (["--workers", str(args.workers)] if args.workers else [])
                      + (["--threads", str(args.threads)] if args.threads else []))
        server = start(serve_args, env, tmp, "serve")
        server.wait_healthy()
        from redis import Redis

        rcli = Redis.from_url(redis.url(0))
        for mode in ("healthz", "purchase"):  # warm every worker (imports, connections, scripts)
            wrk(server.port, mode, sale=sale, tokens=tokens, duration=2, connections=args.connections, tmp=tmp,
                seed=99)
        rounds = {"healthz": [], "purchase": []}
        for r in range(args.rounds):
            for mode in ("healthz", "purchase"):
                cpu0, rcpu0 = proc_cpu_s(server.proc.pid), redis_cpu_s(rcli)
                res = wrk(server.port, mode, sale=sale, tokens=tokens, duration=args.duration,
                          connections=args.connections, tmp=tmp, seed=r)
                n = max(res["requests"], 1)
                res["cpu_ms"] = (proc_cpu_s(server.proc.pid) - cpu0) * 1000 / n
                res["redis_cpu_ms"] = (redis_cpu_s(rcli) - rcpu0) * 1000 / n
                rounds[mode].append(res)
        cpu0 = proc_cpu_s(server.proc.pid)
        sold = wrk(server.port, "purchase", sale=sold_out_sale(app, tokens[0]), tokens=tokens, duration=args.duration,
                   connections=args.connections, tmp=tmp, seed=7)
        sold["cpu_ms"] = (proc_cpu_s(server.proc.pid) - cpu0) * 1000 / max(sold["requests"], 1)
        server.stop_group()
        server = None

        from app.flashsale import flows
        from app.flashsale import service as flash

        with app.app_context():
            queued = flash.rds().xlen(flash.keys(sale)["stream"])
            t0 = time.perf_counter()
            drained = flows.drain_sale(sale, consumer="bench")
            drain_s = time.perf_counter() - t0

        def med(mode, key):
            return statistics.median(x[key] for x in rounds[mode])

        h_rps, p_rps = med("healthz", "rps"), med("purchase", "rps")
        p50, p99 = med("purchase", "p50_ms"), med("purchase", "p99_ms")
        errors = sum(x["errors"] for x in rounds["purchase"])
        print(f"flash-sale bench: {os.cpu_count()} cores, wrk -t2 -c{args.connections} -d{args.duration}s, "
              f"{args.rounds} round(s), median shown; {len(tokens)} buyers; SQLite; "
              f"rate limits {'on (limits too high to refuse)' if args.ratelimit else 'off'}; "
              f"sale's Redis over {'a Unix socket' if args.flash_redis == 'unix' else 'loopback TCP'}; "
              f"purchase lane {'off' if args.no_lane else 'on'}; "
              f"serve {' '.join(serve_args[1:]) or '(defaults)'}")
        print(f"  principal in-process: JWT + user/leader reads {full_ms:.3f} ms, token only {light_ms:.3f} ms")
        print(f"  /healthz   {h_rps:8.0f} req/s   p50 {med('healthz', 'p50_ms'):6.2f} ms   "
              f"p99 {med('healthz', 'p99_ms'):6.2f} ms   CPU/request: gunicorn {med('healthz', 'cpu_ms'):.3f} ms, "
              f"wrk {med('healthz', 'wrk_cpu_ms'):.3f} ms")
        print(f"  purchase   {p_rps:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   CPU/request: gunicorn "
              f"{med('purchase', 'cpu_ms'):.3f} ms, redis {med('purchase', 'redis_cpu_ms'):.3f} ms, "
              f"wrk {med('purchase', 'wrk_cpu_ms'):.3f} ms   "
              f"({p_rps / h_rps:.2f}x /healthz; non-202 answers: {errors})")
        print(f"  sold out   {sold['rps']:8.0f} req/s   p50 {sold['p50_ms']:6.2f} ms   p99 {sold['p99_ms']:6.2f} ms   "
              f"CPU/request: gunicorn {sold['cpu_ms']:.3f} ms   ({sold['rps'] / h_rps:.2f}x /healthz; one round, "
              f"every answer a 409 sold_out: {sold['errors']} of {sold['requests']} non-2xx)")
        print(f"  drain      {drained} reservations of {queued} queued → orders in {drain_s:.2f} s = "
              f"{drained / drain_s:8.0f} orders/s (one worker)")
        print(f"  CPU per request purchase/healthz (gunicorn only): "
              f"{med('purchase', 'cpu_ms') / med('healthz', 'cpu_ms'):.2f}x; "
              f"load average at start {load0:.2f}")
        ok = lambda c: "met" if c else "NOT met"  # noqa: E731
        print(f"  floors: purchase ≥ 0.6x /healthz {ok(p_rps >= 0.6 * h_rps)}; p99 < 50 ms {ok(p99 < 50)}; "
              f"drain ≥ 2,000/s {ok(drained / drain_s >= 2000)}; load average {os.getloadavg()[0]:.2f}")
    finally:
        if server is not None:
            server.stop_group()
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
