"""Benchmark: GET /api/v1/pickup-points/nearby among 100,000 points in one dense city.

What it does, in order:

1. Makes a fresh database: a SQLite file in a temp dir (default), a throwaway PostgreSQL cluster
   (``--postgres``), or an empty database you name (``--database-url``); migrates it with
   ``app.migrate.upgrade``; bulk-loads ``--points`` pickup points (each with its leader and the
   leader's user) uniformly within 25 km of Hangzhou (30.27, 120.15) with SQL core executemany.
   About 3% of points are closed and 1% of leaders inactive, so both filters do work.
2. In-process: ``app.pickup.service.nearby`` for a 3 km radius, limit 20, at many random points in
   the city, each timed with the session it needs (``reading()`` + the call, what a request pays),
   after a warm-up. A few answers are checked against a brute-force scan first.
3. Over HTTP: starts the real server (``python -m app.cli serve``, gunicorn gthread) on a free
   loopback port with rate limiting off and its own redis-server, then drives ``/healthz`` and the
   nearby endpoint (random points again) with the same load generator: ``wrk`` if installed
   (``apt-get install -y wrk``), else a bounded Python thread-pool client. Each round measures
   both; the table shows the median round.
4. Prints the figures and whether the issue's targets are met: in-process p99 < 5 ms, and HTTP
   nearby at least 0.7x the requests/s of /healthz.

Run (from the project root, with the project's venv):

    python bench/nearby.py                      # SQLite in a temp dir (make bench)
    python bench/nearby.py --postgres           # throwaway PostgreSQL 15 cluster (needs the binaries)
    python bench/nearby.py --database-url postgresql+psycopg://app@127.0.0.1:5432/bench_empty
    python bench/nearby.py --duration 5 --rounds 1 --skip-http   # quicker looks

Everything it starts (redis-server, PostgreSQL, gunicorn) listens on 127.0.0.1 only and is
stopped at the end; the temp dir is removed unless ``--keep``. Exit status is 0 whether or not
targets are met (this is a measurement, not a test); non-zero if the benchmark itself failed.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.services import PostgresCluster, RedisServer, free_port, wait_port  # noqa: E402

CITY = (30.27, 120.15)  # Hangzhou, GCJ-02
CITY_RADIUS_M = 25_000
QUERY_RADIUS_M = 20_000  # query points stay inside the city so a 3 km circle is mostly populated
M_PER_DEG = 111_320.0
TARGET_P99_MS = 5.0
TARGET_RATIO = 0.7


# ---------------------------------------------------------------- data

@dataclass
class Point:
    id: int
    lat: float
    lng: float
    active: bool
    leader_active: bool


def random_in_disk(rng: random.Random, center: tuple[float, float], radius_m: float) -> tuple[float, float]:
    r = radius_m * math.sqrt(rng.random())
    t = rng.random() * 2 * math.pi
    lat = center[0] + r * math.cos(t) / M_PER_DEG
    lng = center[1] + r * math.sin(t) / (M_PER_DEG * math.cos(math.radians(center[0])))
    return round(lat, 6), round(lng, 6)


def make_points(n: int, seed: int) -> list[Point]:
    rng = random.Random(seed)
    out = []
    for i in range(1, n + 1):
        lat, lng = random_in_disk(rng, CITY, CITY_RADIUS_M)
        out.append(Point(i, lat, lng, active=rng.random() >= 0.03, leader_active=rng.random() >= 0.01))
    return out


def bulk_load(engine, points: list[Point], chunk: int = 5000) -> float:
    """Users, leaders and pickup points with explicit ids (id i for all three), executemany."""
    from sqlalchemy import insert, text

    from app.auth.models import User
    from app.leader.models import Leader
    from app.pickup.models import PickupPoint

    users, leaders, pps = User.__table__, Leader.__table__, PickupPoint.__table__
    now = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for start in range(0, len(points), chunk):
            part = points[start:start + chunk]
            conn.execute(insert(users), [
                {"id": p.id, "openid": f"bench-{p.id}", "unionid": None, "nickname": f"团长{p.id}",
                 "phone": None, "is_admin": False, "pickup_point_id": None, "created_at": now} for p in part])
            conn.execute(insert(leaders), [
                {"id": p.id, "user_id": p.id, "real_name": f"团长{p.id}", "phone": f"138{p.id:08d}",
                 "commission_rate_bp": None, "active": p.leader_active, "created_at": now} for p in part])
            conn.execute(insert(pps), [
                {"id": p.id, "leader_id": p.id, "name": f"邻里自提点{p.id}", "address": f"杭州市某路{p.id}号",
                 "lat": p.lat, "lng": p.lng, "service_radius_m": 3000, "opening_hours": "08:00-20:00",
                 "active": p.active, "created_at": now} for p in part])
        if engine.dialect.name == "postgresql":
            for t in ("users", "leaders", "pickup_points"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))"))
    # Statistics as a production database would have them (autovacuum on PostgreSQL).
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return time.perf_counter() - t0


def brute_force(points: list[Point], lat: float, lng: float, radius_m: int, limit: int) -> list[float]:
    from app.pickup.geo import distance_m

    # Pre-filter with a generous box, then the same great-circle distance the service reports.
    dlat = radius_m * 1.1 / M_PER_DEG
    dlng = dlat / math.cos(math.radians(lat))
    ds = sorted(d for p in points if p.active and p.leader_active
                and abs(p.lat - lat) <= dlat and abs(p.lng - lng) <= dlng
                for d in [distance_m((lat, lng), (p.lat, p.lng))] if d <= radius_m)
    return ds[:limit]


# ---------------------------------------------------------------- figures

def pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))]


@dataclass
class HttpResult:
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    requests: int
    errors: int
    extra: dict = field(default_factory=dict)
    server_cpu_ms: float = float("nan")  # the server's CPU time per request


# ---------------------------------------------------------------- in-process

def bench_in_process(app, points, *, queries: int, warmup: int, radius_m: int, limit: int, seed: int) -> dict:
    from app.db import reading
    from app.pickup import service

    rng = random.Random(seed + 1)
    with app.app_context():
        # Correctness first: the service agrees with a brute-force scan.
        for _ in range(5):
            lat, lng = random_in_disk(rng, CITY, QUERY_RADIUS_M)
            with reading() as s:
                got = [p.distance_m for p in service.nearby(s, lat=lat, lng=lng, radius_m=radius_m, limit=limit)]
            want = [round(d) for d in brute_force(points, lat, lng, radius_m, limit)]
            if len(got) != len(want) or any(abs(a - b) > 1 for a, b in zip(got, want)):
                raise SystemExit(f"nearby({lat}, {lng}) disagrees with brute force:\n got  {got}\n want {want}")

        from sqlalchemy import text

        # How much the index leaves the database to look at (not timed).
        cands = []
        with reading() as s:
            for _ in range(50):
                lat, lng = random_in_disk(rng, CITY, QUERY_RADIUS_M)
                dlat = radius_m / M_PER_DEG
                dlng = dlat / math.cos(math.radians(lat))
                cands.append(s.execute(text(
                    "SELECT count(*) FROM pickup_points WHERE lat BETWEEN :a AND :b AND lng BETWEEN :c AND :d"),
                    {"a": lat - dlat, "b": lat + dlat, "c": lng - dlng, "d": lng + dlng}).scalar())

        qs = [random_in_disk(rng, CITY, QUERY_RADIUS_M) for _ in range(warmup + queries)]
        times, cpu, found = [], [], 0
        for i, (lat, lng) in enumerate(qs):
            c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
            with reading() as s:
                res = service.nearby(s, lat=lat, lng=lng, radius_m=radius_m, limit=limit)
            dt, dc = time.perf_counter_ns() - t0, time.thread_time_ns() - c0
            if i >= warmup:
                times.append(dt / 1e6)
                cpu.append(dc / 1e6)
                found += len(res)
    times.sort()
    cpu.sort()
    return {"n": len(times), "mean": statistics.fmean(times), "p50": pct(times, 50), "p99": pct(times, 99),
            "max": times[-1], "cpu_mean": statistics.fmean(cpu), "cpu_p50": pct(cpu, 50), "cpu_p99": pct(cpu, 99),
            "avg_found": found / len(times), "avg_box": statistics.fmean(cands)}


# ---------------------------------------------------------------- HTTP

WRK_SCRIPT = r"""
local mode, seed = "%(mode)s", %(seed)d
local clat, clng, r_m, cosk = %(lat)f, %(lng)f, %(r)f, %(cos)f
local radius, limit = %(radius)d, %(limit)d
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
local fixed
function init(args)
  math.randomseed(seed + tid * 7919)
  fixed = wrk.format("GET", "/healthz")
end
function request()
  if mode == "healthz" then return fixed end
  local r = r_m * math.sqrt(math.random())
  local t = 2 * math.pi * math.random()
  local lat = clat + r * math.cos(t) / 111320.0
  local lng = clng + r * math.sin(t) / (111320.0 * cosk)
  return wrk.format("GET", string.format(
    "/api/v1/pickup-points/nearby?lat=%%.6f&lng=%%.6f&radius_m=%%d&limit=%%d", lat, lng, radius, limit))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %%d, \"duration_us\": %%d, \"p50_us\": %%d, \"p99_us\": %%d, \"mean_us\": %%f, " ..
    "\"status\": %%d, \"connect\": %%d, \"read\": %%d, \"write\": %%d, \"timeout\": %%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""


def run_wrk(port: int, mode: str, *, duration: float, connections: int, threads: int, tmp: Path,
            radius_m: int, limit: int, seed: int) -> HttpResult:
    script = tmp / f"wrk-{mode}.lua"
    script.write_text(WRK_SCRIPT % {"mode": mode, "seed": seed, "lat": CITY[0], "lng": CITY[1],
                                    "r": QUERY_RADIUS_M, "cos": math.cos(math.radians(CITY[0])),
                                    "radius": radius_m, "limit": limit})
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "5s",
           "-s", str(script), f"http://127.0.0.1:{port}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    d = json.loads(line[len("WRKJSON "):])
    errors = d["status"] + d["connect"] + d["read"] + d["write"] + d["timeout"]
    return HttpResult(rps=d["requests"] / (d["duration_us"] / 1e6), p50_ms=d["p50_us"] / 1000,
                      p99_ms=d["p99_us"] / 1000, mean_ms=d["mean_us"] / 1000, requests=d["requests"],
                      errors=errors, extra=d)


def run_python_client(port: int, mode: str, *, duration: float, connections: int, radius_m: int, limit: int,
                      seed: int, max_requests: int = 500_000) -> HttpResult:
    """Keep-alive connections, one per thread, until the deadline or max_requests."""
    lat_all: list[list[float]] = [[] for _ in range(connections)]
    errs = [0] * connections
    budget = threading.Semaphore(max_requests)
    stop_at = time.perf_counter() + duration

    def worker(i: int):
        rng = random.Random(seed + i)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        while time.perf_counter() < stop_at and budget.acquire(blocking=False):
            if mode == "healthz":
                path = "/healthz"
            else:
                lat, lng = random_in_disk(rng, CITY, QUERY_RADIUS_M)
                path = f"/api/v1/pickup-points/nearby?lat={lat}&lng={lng}&radius_m={radius_m}&limit={limit}"
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    errs[i] += 1
            except (OSError, http.client.HTTPException):
                errs[i] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                continue
            lat_all[i].append((time.perf_counter() - t0) * 1000)
        conn.close()

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(duration + 30)
    elapsed = time.perf_counter() - t0
    lats = sorted(x for xs in lat_all for x in xs)
    return HttpResult(rps=len(lats) / elapsed, p50_ms=pct(lats, 50), p99_ms=pct(lats, 99),
                      mean_ms=statistics.fmean(lats) if lats else float("nan"), requests=len(lats),
                      errors=sum(errs))


class Server:
    def __init__(self, *, database_url: str, redis_url: str, workers: int | None, threads: int, log: Path):
        self.port = free_port()
        env = dict(os.environ, LINLI_DATABASE_URL=database_url, LINLI_REDIS_URL=redis_url,
                   LINLI_RATELIMIT_ENABLED="0", LINLI_ENV="test", LINLI_LOG_LEVEL="WARNING")
        env["LINLI_ACCESS_LOG"] = "off"  # as the published figures were measured (serve logs by default)
        cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--threads", str(threads)]
        if workers:
            cmd += ["--workers", str(workers)]
        self.log = log
        self._logf = open(log, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_port(self.port, timeout=30)
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self, timeout: float = 30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server not healthy in time")

    def cpu_seconds(self) -> float:
        """User + system CPU of the gunicorn master and its workers so far (Linux /proc)."""
        pids = [self.proc.pid]
        try:
            pids += [int(x) for x in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            return float("nan")
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def get(self, path: str) -> tuple[int, bytes]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # gunicorn master stops its workers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._logf.close()


def bench_http(server: Server, args, tmp: Path) -> tuple[str, dict[str, HttpResult], list[dict]]:
    # The endpoint answers as the contract says before it is loaded.
    lat, lng = CITY
    st, body = server.get(f"/api/v1/pickup-points/nearby?lat={lat}&lng={lng}&radius_m={args.radius}&limit={args.limit}")
    items = json.loads(body)["items"] if st == 200 else None
    if not items or len(items) != args.limit or [i["distance_m"] for i in items] != sorted(i["distance_m"] for i in items):
        raise RuntimeError(f"nearby over HTTP looks wrong: {st} {body[:300]!r}")

    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
    client = f"wrk -t{args.wrk_threads} -c{args.connections}" if use_wrk else f"python threads x{args.connections}"

    def run(mode: str, duration: float, seed: int) -> HttpResult:
        cpu0 = server.cpu_seconds()
        if use_wrk:
            r = run_wrk(server.port, mode, duration=duration, connections=args.connections,
                        threads=args.wrk_threads, tmp=tmp, radius_m=args.radius, limit=args.limit, seed=seed)
        else:
            r = run_python_client(server.port, mode, duration=duration, connections=args.connections,
                                  radius_m=args.radius, limit=args.limit, seed=seed)
        r.server_cpu_ms = (server.cpu_seconds() - cpu0) * 1000 / max(r.requests, 1)
        return r

    for mode in ("healthz", "nearby"):  # warm every worker process and the database's cache
        run(mode, args.warmup_s, args.seed)
    rounds = []
    for i in range(args.rounds):
        h = run("healthz", args.duration, args.seed + 100 + i)
        n = run("nearby", args.duration, args.seed + 200 + i)
        rounds.append({"healthz": h, "nearby": n, "ratio": n.rps / h.rps if h.rps else float("nan")})
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    return client, {"healthz": median["healthz"], "nearby": median["nearby"]}, rounds


# ---------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="an EMPTY database to use instead of a temp SQLite file "
                                           "(e.g. postgresql+psycopg://app@127.0.0.1:5432/bench)")
    ap.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL 15 cluster and use it")
    ap.add_argument("--redis-url", help="use this Redis instead of starting a redis-server")
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--radius", type=int, default=3000)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--queries", type=int, default=3000, help="timed in-process queries")
    ap.add_argument("--warmup", type=int, default=300, help="untimed in-process queries first")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: linli serve's)")
    ap.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--duration", type=float, default=10, help="seconds per HTTP measurement")
    ap.add_argument("--warmup-s", type=float, default=3, help="seconds of HTTP warm-up per endpoint")
    ap.add_argument("--rounds", type=int, default=3, help="HTTP rounds (healthz then nearby); median reported")
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (database, server log)")
    args = ap.parse_args()
    if args.database_url and args.postgres:
        ap.error("--database-url and --postgres are exclusive")

    from sqlalchemy import text

    from app import create_app
    from app.config import Settings
    from app.db import make_engine
    from app.migrate import upgrade

    load0 = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="linli-bench-"))
    started: list = []
    server = None
    try:
        if args.postgres:
            pg = PostgresCluster()
            started.append(pg)
            url = pg.create_database("bench")
        else:
            url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
        if args.redis_url:
            redis_url = args.redis_url
        else:
            rs = RedisServer()
            started.append(rs)
            redis_url = rs.url()

        upgrade(url)
        engine = make_engine(url)
        with engine.connect() as c:
            if c.execute(text("SELECT count(*) FROM pickup_points")).scalar():
                raise SystemExit("the database already has pickup points: give an empty one")
        points = make_points(args.points, args.seed)
        load_s = bulk_load(engine, points)
        engine.dispose()
        db_label = "sqlite" if url.startswith("sqlite") else url.split("+")[0].split(":")[0]
        print(f"database: {db_label}; loaded {args.points:,} points (+ leaders, users) in {load_s:.1f} s; "
              f"{CITY_RADIUS_M // 1000} km around {CITY}; radius {args.radius} m, limit {args.limit}", flush=True)

        app = create_app(Settings(database_url=url, redis_url=redis_url, ratelimit_enabled=False, env="test"))
        ip = bench_in_process(app, points, queries=args.queries, warmup=args.warmup, radius_m=args.radius,
                              limit=args.limit, seed=args.seed)
        app.extensions["linli.engine"].dispose()

        client, http_res, rounds = None, None, []
        if not args.skip_http:
            server = Server(database_url=url, redis_url=redis_url, workers=args.workers, threads=args.threads,
                            log=tmp / "server.log")
            client, http_res, rounds = bench_http(server, args, tmp)
            server.stop()
            server = None

        print()
        print(f"in-process service.nearby (reading() + call), {ip['n']} queries after {args.warmup} warm-up; "
              f"~{ip['avg_box']:.0f} points in the bounding box, {ip['avg_found']:.1f} returned on average")
        print(f"  wall: mean {ip['mean']:.2f} ms   p50 {ip['p50']:.2f} ms   p99 {ip['p99']:.2f} ms   max {ip['max']:.2f} ms")
        print(f"  CPU:  mean {ip['cpu_mean']:.2f} ms   p50 {ip['cpu_p50']:.2f} ms   p99 {ip['cpu_p99']:.2f} ms"
              "   (this thread's CPU time: what other load on the machine does not inflate)")
        ok_p99 = ip["p99"] < TARGET_P99_MS
        ok_ratio = None
        if http_res:
            workers = args.workers or (2 * (os.cpu_count() or 1) + 1)
            print()
            print(f"HTTP, linli serve (gunicorn gthread, {workers} workers x {args.threads} threads), "
                  f"{client}, {args.duration:g} s each, {args.rounds} round(s), median round:")
            print(f"  {'endpoint':<24} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'requests':>9} "
                  f"{'errors':>7} {'gunicorn CPU ms/req':>20}")
            for name, r in (("GET /healthz", http_res["healthz"]), ("GET .../nearby", http_res["nearby"])):
                print(f"  {name:<24} {r.rps:>9,.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.mean_ms:>8.2f} "
                      f"{r.requests:>9,} {r.errors:>7} {r.server_cpu_ms:>20.3f}")
            ratio = http_res["nearby"].rps / http_res["healthz"].rps
            print(f"  ratio nearby/healthz req/s: {ratio:.2f}   (rounds: "
                  + ", ".join(f"{r['ratio']:.2f}" for r in rounds) + ")")
            cpu_ratio = http_res["healthz"].server_cpu_ms / http_res["nearby"].server_cpu_ms
            print(f"  ratio of server CPU per request, healthz/nearby: {cpu_ratio:.2f}   "
                  "(what the req/s ratio tends to when the server, not the client, is the bottleneck;\n"
                  "   gunicorn's own processes only: a PostgreSQL server's CPU is not in it)")
            ok_ratio = ratio >= TARGET_RATIO
            if any(r[k].errors for r in rounds for k in ("healthz", "nearby")):
                print("  WARNING: some requests failed (non-2xx or socket errors); see the errors column")
        print()
        print(f"machine: {os.cpu_count()} CPUs; load average (1 min) {load0:.2f} at start, "
              f"{os.getloadavg()[0]:.2f} at end (the end figure includes this run's own server and wrk; "
              "a high start figure means other work is inflating the wall-clock numbers)")
        print()
        print("targets:")
        print(f"  in-process p99 < {TARGET_P99_MS:g} ms: {'MET' if ok_p99 else 'MISSED'} ({ip['p99']:.2f} ms)")
        if ok_ratio is None:
            print("  HTTP nearby >= 0.7x /healthz req/s: not measured (--skip-http)")
        else:
            print(f"  HTTP nearby >= {TARGET_RATIO:g}x /healthz req/s: {'MET' if ok_ratio else 'MISSED'} ({ratio:.2f}x)")
        return 0
    finally:
        if server is not None:
            server.stop()
        for svc in reversed(started):
            try:
                svc.stop()
            except Exception as e:  # noqa: BLE001 - clean up the rest regardless
                print(f"stopping {type(svc).__name__}: {e}", file=sys.stderr)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
