"""Benchmark: chat message → socket delivery latency with 1,000 open sockets on one `linli serve
--ws` copy (gevent workers), while 100 messages/s flow.

Setup (not timed): a SQLite file and a redis-server in a temp dir; the production layout of the
README: one `serve --ws` copy (gevent) holding the sockets and one `serve` copy (gthread) taking
the JSON API; one leader and 999 buyers, each buyer with a conversation with the leader; 1,000
sockets on the `--ws` copy (every user one). Then for DURATION seconds the leader's side posts
100 messages/s over HTTP to the API copy, each into a random buyer's conversation; every message
is delivered to its buyer's socket and the leader's own socket (2 deliveries), through Redis.
`--same` posts to the `--ws` copy instead (one process doing both, as a small install might).

Latency per delivery = time the socket received it − time the POST was sent (includes the HTTP
request, the insert and commit, the Redis publish and the push), and − the message's own
`created_at` (insert → delivery). Prints p50/p99/max; the floor is p99 < 50 ms (aim 20 ms).
Then each hop: POST sent → insert (`created_at`: the API pool's queue, auth, the wait for the
database's write lock), insert → 201 back, insert → the publish seen by a Redis subscriber of
our own (what a socket process's hub sees), subscriber → socket (the `--ws` copy and the client);
and the CPU each pool used per message, with the load average: on a shared machine the API
pool's share of the CPUs decides the first hop.

Run (from the project root):  python bench/chat.py [--sockets 1000] [--rate 100] [--duration 20]
[--postgres]. Exit status 0 whether or not the floor is met.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import websockets  # noqa: E402

from tests.services import PostgresCluster, RedisServer, free_port  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sockets", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--workers", type=int, default=1, help="gevent worker processes of the one serve --ws copy")
    ap.add_argument("--same", action="store_true", help="post to the --ws copy too (no separate API copy)")
    ap.add_argument("--postgres", action="store_true",
                    help="a throwaway PostgreSQL cluster (production's database) instead of a SQLite file")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.sockets + 256)), hard))

    tmp = Path(tempfile.mkdtemp(prefix="linli-bench-chat-"))
    redis = RedisServer()
    pg = PostgresCluster() if args.postgres else None
    database_url = pg.create_database("bench_chat") if pg else f"sqlite:///{tmp}/linli.db"
    print(f"database: {'PostgreSQL (throwaway cluster)' if pg else 'SQLite file'}; "
          f"API pool: {'the --ws copy itself (--same)' if args.same else 'a separate `serve` copy (gthread)'}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env.update(LINLI_ENV="dev", LINLI_DATABASE_URL=database_url, LINLI_REDIS_URL=redis.url(),
               LINLI_RATELIMIT_ENABLED="0", LINLI_ACCESS_LOG="off",
               LINLI_SECRET_KEY="bench-chat-secret-8e2d6b0f4a9c1e7d3b5a")
    subprocess.run([sys.executable, "-m", "app.cli", "db", "upgrade"], env=env, check=True, capture_output=True)
    port, api_port = free_port(), free_port()
    log = open(tmp / "serve.log", "wb")
    servers = [subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--ws", "--port", str(port), "--workers",
                                 str(args.workers), "--connections", str(args.sockets + 500)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)]
    if not args.same:
        servers.append(subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(api_port),
                                         "--workers", "2", "--threads", "8"],
                                        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    base = f"http://127.0.0.1:{port if args.same else api_port}/api/v1"
    try:
        for p in (port,) if args.same else (port, api_port):
            for _ in range(300):
                try:
                    if requests.get(f"http://127.0.0.1:{p}/healthz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
        args.redis_url = redis.url()
        args.pools = {"ws pool": servers[0].pid} | ({} if args.same else {"API pool": servers[1].pid})
        run(base, port, args)
    finally:
        for server in servers:
            os.killpg(server.pid, 9)
            server.wait()
        redis.stop()
        if pg:
            pg.stop()


def cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) used so far by the processes of one process group (a gunicorn
    master and its workers), from /proc; 0 where /proc is not Linux's."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:  # fields[2] is pgrp; utime, stime are fields[11], [12]
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


def login(base: str, openid: str, admin: bool = False) -> dict:
    r = requests.post(f"{base}/auth/dev-login", json={"openid": openid, "admin": admin}, timeout=30)
    r.raise_for_status()
    return r.json()


def post_all(base: str, token: str, conversations: list[int], rate: float, duration: float, results) -> None:
    """In its own process: post `rate` messages a second for `duration` seconds, each into a random
    conversation; answer {(conversation, seq): (time the POST was sent, time its 201 came back)}."""
    local = threading.local()
    sent: dict[tuple[int, int], tuple[float, float]] = {}

    def post(conv_id: int, n: int):
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
            s.headers["Authorization"] = f"Bearer {token}"
        start = time.time()
        r = s.post(f"{base}/conversations/{conv_id}/messages", json={"type": "text", "text": f"第{n}条"}, timeout=30)
        if r.status_code == 201:
            sent[(conv_id, r.json()["seq"])] = (start, time.time())

    rng = random.Random(7)
    with ThreadPoolExecutor(16) as pool:
        begin = time.time()
        for n in range(int(rate * duration)):
            time.sleep(max(0.0, begin + n / rate - time.time()))
            pool.submit(post, rng.choice(conversations), n)
    results.put(sent)


def watch_redis(redis_url: str, seen, started, stop) -> None:
    """In its own process: a subscriber like a socket process's hub, answering {(conversation,
    seq): first time the publish reached a subscriber} (the hop between commit and the hub)."""
    from redis import Redis

    pubsub = Redis.from_url(redis_url, decode_responses=True).pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("linli:user:*")
    out: dict[tuple[int, int], float] = {}
    started.set()
    while not stop.is_set():
        item = pubsub.get_message(timeout=0.2)
        if item and item["type"] == "pmessage":
            now = time.time()
            e = json.loads(item["data"])
            if e["event"] == "message.created":
                out.setdefault((e["data"]["conversation_id"], e["data"]["seq"]), now)
    seen.put(out)


def run(base: str, port: int, args) -> None:
    t0 = time.time()
    admin = login(base, "bench-admin", admin=True)
    leader = login(base, "bench-leader")
    h = {"Authorization": f"Bearer {leader['token']}"}
    app_ = requests.post(f"{base}/leader-applications", headers=h, json={
        "real_name": "团长", "phone": "13900000000",
        "pickup_point": {"name": "压测点", "address": "某路1号", "lat": 30.27, "lng": 120.15}}).json()
    approved = requests.post(f"{base}/admin/leader-applications/{app_['id']}/approve",
                             headers={"Authorization": f"Bearer {admin['token']}"}).json()
    leader = login(base, "bench-leader")  # a token with the leader role

    def buyer(i: int):
        b = login(base, f"bench-buyer-{i}")
        conv = requests.post(f"{base}/conversations", json={"leader_id": approved["leader_id"]},
                             headers={"Authorization": f"Bearer {b['token']}"}, timeout=30).json()
        return b, conv["id"]

    with ThreadPoolExecutor(8) as pool:
        buyers = list(pool.map(buyer, range(args.sockets - 1)))
    print(f"setup: {len(buyers)} buyers with conversations in {time.time() - t0:.1f}s")

    sent_at: dict[tuple[int, int], float] = {}  # (conversation, seq) → POST start
    deliveries: list[tuple[int, int, float, str]] = []  # (conversation, seq, received, created_at)
    stop = threading.Event()
    ready = threading.Event()
    opened = [0]
    failed: list[str] = []

    async def sockets():
        async def one(token: str):
            try:
                async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws?token={token}", open_timeout=60,
                                              ping_interval=None, max_queue=None, compression=None) as ws:
                    assert json.loads(await ws.recv())["event"] == "ready"
                    opened[0] += 1
                    async for raw in ws:  # no per-socket timers: the client's own CPU would skew the figures
                        now = time.time()
                        e = json.loads(raw)
                        if e["event"] == "message.created":
                            d = e["data"]
                            deliveries.append((d["conversation_id"], d["seq"], now, d["created_at"]))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - counted and reported
                failed.append(repr(e)[:200])

        tokens = [leader["token"]] + [b["token"] for b, _ in buyers]
        tasks = []
        for i in range(0, len(tokens), 50):  # open in waves, as clients arrive
            tasks += [asyncio.create_task(one(t)) for t in tokens[i:i + 50]]
            await asyncio.sleep(0.05)
        while opened[0] + len(failed) < len(tokens):
            await asyncio.sleep(0.05)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    loop_thread = threading.Thread(target=lambda: asyncio.run(sockets()), daemon=True)
    t1 = time.time()
    loop_thread.start()
    ready.wait(300)
    print(f"{opened[0]} sockets open in {time.time() - t1:.1f}s" + (f"; {len(failed)} failed, e.g. {failed[0]}"
                                                                   if failed else ""))

    # The posts come from another process, so that its threads do not hold this one's GIL while
    # a socket's message waits to be timestamped.
    ctx = multiprocessing.get_context("spawn")
    results, seen, watching, watch_stop = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event()
    watcher = ctx.Process(target=watch_redis, args=(args.redis_url, seen, watching, watch_stop))
    watcher.start()
    watching.wait(30)
    load_before = os.getloadavg()
    cpu_before, t_before = {k: cpu_seconds(pid) for k, pid in args.pools.items()}, time.time()
    poster = ctx.Process(target=post_all, args=(base, leader["token"], [c for _, c in buyers], args.rate,
                                                args.duration, results))
    poster.start()
    sent_at.update(results.get(timeout=args.duration + 120))
    poster.join(30)
    cpu = {k: cpu_seconds(pid) - cpu_before[k] for k, pid in args.pools.items()}
    cpu_window = time.time() - t_before
    time.sleep(2)
    load_after = os.getloadavg()
    stop.set()
    watch_stop.set()
    published = seen.get(timeout=30)
    watcher.join(10)
    loop_thread.join(10)

    lat, ins = [], []
    hops: dict[str, list[float]] = {k: [] for k in ("post", "answer", "publish", "push")}
    for conv, seq, received, created in deliveries:
        if (conv, seq) in sent_at:
            start, answered = sent_at[(conv, seq)]
            inserted = datetime.fromisoformat(created).timestamp()
            lat.append((received - start) * 1000)
            ins.append((received - inserted) * 1000)
            hops["post"].append((inserted - start) * 1000)
            hops["answer"].append((answered - inserted) * 1000)
            if (conv, seq) in published:
                hops["publish"].append((published[(conv, seq)] - inserted) * 1000)
                hops["push"].append((received - published[(conv, seq)]) * 1000)
    expected = 2 * len(sent_at)
    print(f"{len(sent_at)} messages posted at {args.rate:.0f}/s for {args.duration:.0f}s; "
          f"{len(lat)} of {expected} deliveries received, {expected - len(lat)} lost")
    print(f"POST sent → socket:     p50 {pct(lat, 0.5):.1f} ms  p99 {pct(lat, 0.99):.1f} ms  max {max(lat):.1f} ms")
    print(f"insert → socket:        p50 {pct(ins, 0.5):.1f} ms  p99 {pct(ins, 0.99):.1f} ms  max {max(ins):.1f} ms")
    print("hops (p50 / p99 ms): " + "; ".join(
        f"{name} {pct(v, 0.5):.1f} / {pct(v, 0.99):.1f}" for name, v in (
            ("POST sent → insert", hops["post"]), ("insert → 201 back", hops["answer"]),
            ("insert → Redis subscriber", hops["publish"]), ("Redis subscriber → socket", hops["push"]))))
    floor = pct(lat, 0.99) < 50
    print(f"floor p99 < 50 ms: {'met' if floor else 'NOT met'} (median of all: {statistics.median(lat):.1f} ms)")
    print(f"load average (1 min) {load_before[0]:.2f} before posting, {load_after[0]:.2f} after, "
          f"on {os.cpu_count()} CPUs")
    print("CPU while posting: " + "; ".join(
        f"{k} {v / cpu_window:.2f} cores, {1000 * v / max(1, len(sent_at)):.1f} ms per message" for k, v in cpu.items()))


if __name__ == "__main__":
    main()
