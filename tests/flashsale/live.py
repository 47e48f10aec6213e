"""A real `linli serve` (gunicorn, 2 processes) and real drain processes for flash-sale tests,
spoken to over HTTP from many threads at once. SQLite in a temp dir: the hot path never touches
the database, and the drain is one writer per batch."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from tests.ops.real_server import cli_env, migrate, start


class Live:
    def __init__(self, tmp: Path, redis_url: str, **env: str):
        self.tmp = tmp
        self.env = cli_env(tmp, redis_url, LINLI_SECRET_KEY="flash-live-secret-6c1e9b3f7a2d5e8c0b4f", **env)
        migrate(self.env)
        self.srv = start(["serve", "--workers", "2", "--threads", "16"], self.env, tmp, "serve")
        self.srv.wait_healthy()
        self.base = f"http://127.0.0.1:{self.srv.port}/api/v1"
        self.db = create_engine(f"sqlite:///{tmp}/linli.db")
        self.drains: list[subprocess.Popen] = []

    def stop(self) -> None:
        for p in self.drains:
            kill(p)
        self.srv.stop_group()
        self.db.dispose()

    # ---- HTTP ----
    def login(self, openid: str, admin: bool = False) -> tuple[str, int]:
        r = requests.post(f"{self.base}/auth/dev-login", json={"openid": openid, "admin": admin}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["token"], r.json()["user"]["id"]

    def call(self, method: str, path: str, token: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.base}{path}", headers={"Authorization": f"Bearer {token}"},
                                timeout=30, **kw)

    def world(self, n_buyers: int, sku_stock: int = 10_000) -> dict:
        """An admin, an approved leader's point, a SKU and n buyers bound to the point."""
        admin, _ = self.login("fs-admin", admin=True)
        lead, _ = self.login("fs-leader")
        app_ = self.call("POST", "/leader-applications", lead, json={
            "real_name": "团长", "phone": "13900000000",
            "pickup_point": {"name": "点", "address": "某路1号", "lat": 30.27, "lng": 120.15}}).json()
        point = self.call("POST", f"/admin/leader-applications/{app_['id']}/approve", admin).json()["pickup_point_id"]
        product = self.call("POST", "/admin/products", admin, json={
            "name": "秒杀西瓜", "skus": [{"name": "一个", "price": 1990, "stock": sku_stock}]}).json()

        def buyer(i):
            token, uid = self.login(f"fs-buyer-{i}")
            assert self.call("PUT", "/me/pickup-point", token, json={"pickup_point_id": point}).status_code == 200
            return token, uid

        with ThreadPoolExecutor(16) as pool:
            buyers = list(pool.map(buyer, range(n_buyers)))
        return {"admin": admin, "point": point, "sku_id": product["skus"][0]["id"], "buyers": buyers}

    def sale(self, w: dict, *, stock: int, limit: int) -> int:
        now = datetime.now(timezone.utc)
        r = self.call("POST", "/admin/flash-sales", w["admin"], json={
            "sku_id": w["sku_id"], "price": 990, "stock": stock, "per_user_limit": limit,
            "starts_at": (now - timedelta(seconds=5)).isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat()})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    # ---- processes ----
    def linli(self, *args: str, timeout: float = 60) -> str:
        out = subprocess.run([sys.executable, "-m", "app.cli", *args], env=self.env, capture_output=True, text=True,
                             timeout=timeout)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    def start_drain(self, consumer: str, *extra: str) -> subprocess.Popen:
        log = open(self.tmp / f"drain-{consumer}.log", "ab")
        p = subprocess.Popen([sys.executable, "-m", "app.cli", "flash-sales", "drain", "--consumer", consumer, *extra],
                             env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.drains.append(p)
        return p

    # ---- the database, read directly ----
    def orders(self, sale_id: int) -> list[tuple]:
        with self.db.connect() as c:
            return c.execute(text(
                "SELECT o.source_ref, o.buyer_id, i.qty, o.status, o.total FROM orders o JOIN order_items i "
                "ON i.order_id = o.id WHERE o.source = 'flash_sale' AND o.source_ref LIKE :p"),
                {"p": f"{sale_id}-%"}).all()

    def held(self, sale_id: int) -> int:
        with self.db.connect() as c:
            return c.execute(text("SELECT held FROM flash_sales WHERE id = :i"), {"i": sale_id}).scalar_one()

    def wait_orders(self, sale_id: int, units: int, timeout: float = 30) -> list[tuple]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            rows = self.orders(sale_id)
            if sum(r[2] for r in rows) >= units:
                return rows
            time.sleep(0.1)
        raise AssertionError(f"sale {sale_id}: {sum(r[2] for r in self.orders(sale_id))} of {units} units are orders")


def kill(p: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
    p.wait(30)


def hammer(live: Live, requests_: list[tuple[str, int]], threads: int = 64) -> list[tuple[int, int, dict]]:
    """Send purchases (token, sale id) at once from many threads; → (index, status, body)."""
    def one(args):
        i, (token, sale_id) = args
        r = live.call("POST", f"/flash-sales/{sale_id}/purchase", token, json={"qty": 1})
        return i, r.status_code, r.json()

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, enumerate(requests_)))
