"""The production list of processes (deploy/Procfile) on PostgreSQL: 2 `serve` copies behind a
round-robin of this test's own, a `serve --ws` pool, 2 workers and one scheduler. A short day
runs through both copies (orders left unpaid to expire, a flash sale, a group to its deadline,
chat over HTTP and the WebSocket, a manifest build); one worker is SIGKILLed mid-way; every
order, cancellation, reservation and message is then found exactly once."""
from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from simple_websocket import Client as WsClient
from sqlalchemy import create_engine, text

from tests.ops.real_server import cli_env, migrate, start

pytestmark = pytest.mark.slow


def iso(d: datetime) -> str:
    return d.isoformat().replace("+00:00", "Z")


class RoundRobin:
    """The load balancer: each request to the next serve copy."""

    def __init__(self, ports: list[int]):
        self.ports = itertools.cycle(ports)
        self.lock = threading.Lock()
        self.seen: dict[int, int] = {p: 0 for p in ports}

    def __call__(self, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
        with self.lock:
            port = next(self.ports)
            self.seen[port] += 1
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, f"http://127.0.0.1:{port}/api/v1{path}", headers=headers, timeout=30, **kw)


def wait_for(predicate, timeout: float, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(every)
    return predicate()


@pytest.fixture
def deployment(tmp_path, redis_server, pg_cluster):
    if pg_cluster is None:
        pytest.skip("PostgreSQL is not among the test backends")
    url = pg_cluster.create_database(f"deploy_{uuid.uuid4().hex[:8]}")
    env = cli_env(tmp_path, redis_server.url(9), LINLI_PAYMENT_TIMEOUT_S="20",
                  LINLI_SECRET_KEY="deploy-test-secret-4d7b1e9a2c6f3085", LINLI_LOG_FORMAT="json")
    env["LINLI_DATABASE_URL"] = url
    migrate(env)
    serves = [start(["serve", "--workers", "2", "--threads", "4"], env, tmp_path, f"serve{i}") for i in (1, 2)]
    ws = start(["serve", "--ws", "--workers", "1"], env, tmp_path, "ws")
    procs: dict[str, subprocess.Popen] = {}
    for name, cmd in (("worker1", "worker"), ("worker2", "worker"), ("scheduler", "scheduler")):
        with open(tmp_path / f"{name}.log", "wb") as out:
            procs[name] = subprocess.Popen([sys.executable, "-m", "app.cli", cmd], env=env, stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for s in (*serves, ws):
            s.wait_healthy()
        yield {"serves": serves, "ws": ws, "procs": procs, "db": create_engine(url),
               "env": env, "tmp": tmp_path}
    finally:
        for p in procs.values():
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(30)
        for s in (*serves, ws):
            s.stop_group()


def test_a_day_on_two_serve_copies_with_a_worker_killed_midway_finds_everything_exactly_once(deployment):
    d = deployment
    api = RoundRobin([s.port for s in d["serves"]])

    def login(openid: str, admin: bool = False) -> tuple[str, int]:
        r = api("POST", "/auth/dev-login", json={"openid": openid, "admin": admin})
        assert r.status_code == 200, r.text
        return r.json()["token"], r.json()["user"]["id"]

    admin, _ = login("dp-admin", admin=True)
    lead, lead_user = login("dp-leader")
    app_ = api("POST", "/leader-applications", lead, json={
        "real_name": "团长", "phone": "13900000000",
        "pickup_point": {"name": "点", "address": "某路1号", "lat": 30.27, "lng": 120.15}}).json()
    approved = api("POST", f"/admin/leader-applications/{app_['id']}/approve", admin).json()
    point, leader_id = approved["pickup_point_id"], approved["leader_id"]
    product = api("POST", "/admin/products", admin, json={
        "name": "西瓜", "skus": [{"name": "一个", "price": 1990, "stock": 1000}]}).json()
    sku = product["skus"][0]["id"]
    buyers = []
    for i in range(12):
        token, uid = login(f"dp-buyer-{i}")
        assert api("PUT", "/me/pickup-point", token, json={"pickup_point_id": point}).status_code == 200
        buyers.append((token, uid))

    # The leader listens on the WebSocket pool.
    sock = WsClient.connect(f"ws://127.0.0.1:{d['ws'].port}/api/v1/ws?token={lead}")
    assert json.loads(sock.receive(timeout=10))["event"] == "ready"

    # Orders, left unpaid (LINLI_PAYMENT_TIMEOUT_S=20): each expires once, its units back once.
    orders = [api("POST", "/orders", t, json={"items": [{"sku_id": sku, "qty": 2}]}).json()["id"] for t, _ in buyers]

    # A flash sale: 30 units, up to 5 a buyer, 3 purchases of 1 each per buyer from threads.
    now = datetime.now(timezone.utc)
    sale = api("POST", "/admin/flash-sales", admin, json={
        "sku_id": sku, "price": 990, "stock": 30, "per_user_limit": 5, "starts_at": iso(now - timedelta(seconds=5)),
        "ends_at": iso(now + timedelta(hours=1))}).json()
    accepted: list[tuple[str, str]] = []
    refused: list[int] = []

    def buy(token):
        for _ in range(3):
            r = api("POST", f"/flash-sales/{sale['id']}/purchase", token, json={"qty": 1})
            if r.status_code == 202:
                accepted.append((token, r.json()["reservation_id"]))
            else:
                refused.append(r.status_code)

    threads = [threading.Thread(target=buy, args=(t,)) for t, _ in buyers]
    for t in threads:
        t.start()
    # Mid-way: one worker dies without a word (its drained-but-unacknowledged batch, its job).
    time.sleep(0.3)
    d["procs"]["worker1"].send_signal(signal.SIGKILL)
    for t in threads:
        t.join()
    assert len(accepted) == 30 and len(refused) == 6 and set(refused) == {409}

    # A group to its deadline: opened now, its deadline moved to a moment from now (the API's
    # shortest window is a minute); nobody joins, so it fails and its opener's order is cancelled.
    gb = api("POST", "/admin/group-buys", admin, json={
        "sku_id": sku, "group_price": 990, "group_size": 3, "duration_s": 60,
        "starts_at": iso(now - timedelta(seconds=5)), "ends_at": iso(now + timedelta(hours=1))}).json()
    opened = api("POST", f"/group-buys/{gb['id']}/groups", buyers[0][0], json={"qty": 1})
    assert opened.status_code in (200, 201), opened.text
    group_id = opened.json()["group"]["id"] if "group" in opened.json() else opened.json()["id"]
    due = datetime.now(timezone.utc) + timedelta(seconds=3)
    with d["db"].begin() as c:
        c.execute(text("UPDATE buy_groups SET expires_at = :t WHERE id = :g"), {"t": due, "g": group_id})

    # Chat through one copy, read through the other, pushed once on the WebSocket.
    conv = api("POST", "/conversations", buyers[1][0], json={"leader_id": leader_id}).json()
    sent = api("POST", f"/conversations/{conv['id']}/messages", buyers[1][0], json={"type": "text", "text": "在吗"})
    assert sent.status_code in (200, 201), sent.text
    pushed = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not pushed:
        raw = sock.receive(timeout=1)
        if raw and json.loads(raw)["event"] == "message.created":
            pushed.append(json.loads(raw))
    sock.close()
    assert len(pushed) == 1

    # Every reservation becomes exactly one order (the killed worker's pending ones are claimed
    # by the other after 30 s idle); the group closes; the unpaid orders expire.
    def reservation_states():
        return [api("GET", f"/flash-sales/reservations/{res}", tok).json()["status"] for tok, res in accepted]

    assert wait_for(lambda: all(s == "confirmed" for s in reservation_states()), 75, every=1), reservation_states()
    group = wait_for(lambda: (g := api("GET", f"/groups/{group_id}", buyers[0][0]).json())["status"] != "forming"
                     and g, 20)
    assert group and group["status"] == "failed"
    assert wait_for(lambda: all(api("GET", f"/orders/{o}", buyers[0][0] if i == 0 else buyers[i][0]).json()["status"]
                                == "cancelled" for i, o in enumerate(orders)), 40)

    # A manifest build (no paid orders today: it builds nothing, and says so) by the command.
    out = subprocess.run([sys.executable, "-m", "app.cli", "manifests", "build", "--date",
                          (datetime.now(timezone.utc) + timedelta(hours=8)).date().isoformat()], env=d["env"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]

    with d["db"].connect() as c:
        flash_orders = c.execute(text("SELECT source_ref, count(*) FROM orders WHERE source = 'flash_sale' "
                                      "GROUP BY source_ref")).all()
        assert len(flash_orders) == 30 and all(n == 1 for _, n in flash_orders)
        plain = c.execute(text("SELECT status, count(*) FROM orders WHERE source = 'plain' GROUP BY status")).all()
        assert dict(plain) == {"cancelled": 12}
        assert c.execute(text("SELECT count(*) FROM messages")).scalar() == 1
        assert c.execute(text("SELECT held FROM flash_sales WHERE id = :s"), {"s": sale["id"]}).scalar() == 30
        # Stock: 1000 − the sale's 30 − the group opener's unit while it was held (given back on
        # failure) − the plain orders' 24 (given back on expiry) = 970, each unit back exactly once.
    stock = api("GET", f"/products/{product['id']}").json()["skus"][0]["stock_available"]
    assert stock == 970
    assert min(api.seen.values()) > 20  # both copies served the day
