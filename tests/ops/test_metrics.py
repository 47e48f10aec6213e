"""GET /metrics (contract, Operations): who may read it, what it says, and the multiprocess
setup under a real `linli serve` with two workers."""
from __future__ import annotations

import re
import time

import pytest

from tests.conftest import login
from tests.flashsale.test_flash_basics import bound_buyer, drain_all, make_sale
from tests.ops.real_server import cli_env, migrate, raw, start

REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


def value(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            got = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(got.get(k) == str(v) for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def settings_overrides():
    return {"metrics_token": "metrics-token-8f2a61c0", "secret_key": "metrics-test-secret-5b0e7d9c1a3f4e2b8c6d"}


def test_metrics_answer_loopback_and_the_token_bearer_and_404_to_anyone_else(client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base=REMOTE).status_code == 404
    assert client.get("/metrics", environ_base=REMOTE, headers={"Authorization": "Bearer nope"}).status_code == 404
    # A proxy on this machine makes every caller look local: its header says it forwards someone.
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    r = client.get("/metrics", environ_base=REMOTE, headers={"Authorization": "Bearer metrics-token-8f2a61c0"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert r.headers["Content-Type"].count("charset") == 1


def test_metrics_count_requests_by_route_and_status_and_read_queue_refunds_and_drain(app, client, admin, product,
                                                                                     leader):
    for _ in range(3):
        client.get("/healthz")
    client.get("/no/such/path/123")
    sale = make_sale(admin, product["skus"][0]["id"], stock=10, limit=5)
    buyer = bound_buyer(client, "metered", leader[1]["pickup_point_id"])
    assert buyer.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).status_code == 202
    assert login(client, "pointless").post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).status_code == 422
    time.sleep(0.05)
    text = client.get("/metrics").get_data(as_text=True)
    assert value(text, "linli_http_requests_total", method="GET", route="/healthz", status="200") >= 3
    assert value(text, "linli_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    assert value(text, "linli_http_request_duration_seconds_count", route="/healthz", status="200") >= 3
    purchase = "/api/v1/flash-sales/<int:sale_id>/purchase"  # answered by the lane, counted all the same
    assert value(text, "linli_http_requests_total", method="POST", route=purchase, status="202") >= 1
    assert value(text, "linli_flash_reservations_total", result="accepted") >= 1
    assert value(text, "linli_flash_reservations_total", result="no_pickup_point") >= 1
    assert value(text, "linli_flash_drain_backlog", sale_id=sale["id"]) == 1
    assert value(text, "linli_flash_drain_lag_seconds", sale_id=sale["id"]) > 0
    assert value(text, "linli_rq_jobs", state="queued") is not None
    assert value(text, "linli_rq_jobs", state="failed") == 0
    assert value(text, "linli_refunds", status="pending") == 0
    assert value(text, "linli_withdrawals", status="reviewing") == 0
    drain_all(app)
    text = client.get("/metrics").get_data(as_text=True)
    assert value(text, "linli_flash_drain_backlog", sale_id=sale["id"]) == 0
    assert value(text, "linli_flash_drain_lag_seconds", sale_id=sale["id"]) == 0


def test_metrics_of_every_gunicorn_worker_add_up_and_a_previous_run_is_wiped(tmp_path, redis_server):
    metrics_dir = tmp_path / "metrics"
    env = cli_env(tmp_path, redis_server.url(6), LINLI_METRICS_DIR=str(metrics_dir))
    migrate(env)
    server = start(["serve", "--workers", "2", "--threads", "2"], env, tmp_path, "serve")
    stale = metrics_dir / f"serve-{server.port}" / "counter_999999.db"
    try:
        server.wait_healthy()
        assert not stale.exists()
        # New connections each time: SO_REUSEPORT spreads them over both workers.
        for _ in range(40):
            raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        files = {p.name.rsplit("_", 1)[1] for p in (metrics_dir / f"serve-{server.port}").glob("counter_*.db")}
        assert len(files) >= 2, files  # two processes wrote counters
        text = raw(server.port, b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").body.decode()
        assert value(text, "linli_http_requests_total", route="/healthz", status="200") >= 40
    finally:
        server.stop_group()
    # A restart on the same port starts counting from nothing.
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"")
    server = start(["serve", "--workers", "1", "--threads", "2"], env, tmp_path, "serve2")
    try:
        server.wait_healthy()
        assert not (metrics_dir / f"serve-{server.port}" / "counter_999999.db").exists()
    finally:
        server.stop_group()


def test_json_logs_of_serve_carry_request_id_user_route_status_duration_in_utc_and_no_secrets(tmp_path, redis_server):
    import json

    env = cli_env(tmp_path, redis_server.url(7), LINLI_LOG_FORMAT="json", TZ="Asia/Shanghai")
    migrate(env)
    server = start(["serve", "--workers", "1", "--threads", "2"], env, tmp_path, "serve")
    try:
        server.wait_healthy()
        login = raw(server.port, b'POST /api/v1/auth/dev-login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n'
                                 b'Content-Length: 19\r\nConnection: close\r\n\r\n{"openid": "jsonl"}')
        token = login.json()["token"]
        me = raw(server.port, f"GET /api/v1/me?token=hush HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
                              f"X-Request-ID: json-log-1\r\nConnection: close\r\n\r\n".encode())
        assert me.status == 200
        deadline = time.time() + 10
        line = None
        while time.time() < deadline and line is None:
            line = next((json.loads(ln) for ln in server.output().splitlines()
                         if ln.startswith("{") and '"json-log-1"' in ln and '"route"' in ln), None)
            time.sleep(0.2)
        assert line is not None, server.output()[-3000:]
        assert line["route"] == "/api/v1/me" and line["status"] == 200 and line["path"] == "/api/v1/me"
        assert line["user_id"] == login.json()["user"]["id"] and line["duration_ms"] >= 0
        assert line["ts"].endswith("Z") and line["logger"] == "linli.request"
        out = server.output()
        assert token not in out and "hush" not in out
        # Every line is JSON, gunicorn's own too (no text access log beside them).
        assert all(json.loads(ln) for ln in out.splitlines() if ln.strip())
    finally:
        server.stop_group()
