"""Issue 18: sockets cannot starve the JSON pool, and one user cannot hold hundreds of them.
Real `linli serve` processes (gthread: the JSON pool; --ws: the socket pool), real WebSockets."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
import requests
import websockets
from websockets.exceptions import InvalidStatus

from tests.ops.real_server import cli_env, migrate, raw, start


def _login(host: str, openid: str) -> str:
    r = requests.post(f"http://{host}/api/v1/auth/dev-login", json={"openid": openid}, timeout=30)
    r.raise_for_status()
    return r.json()["token"]


async def _hold(host: str, tokens: list[str], then):
    """Open a socket per token (in order), run `then(outcomes)` while they are open; an outcome is
    "ready" or the refusal's HTTP status."""
    opened, outcomes = [], []
    try:
        for token in tokens:
            try:
                ws = await asyncio.wait_for(websockets.connect(f"ws://{host}/api/v1/ws?token={token}",
                                                               open_timeout=10), 15)
            except InvalidStatus as e:
                outcomes.append(e.response.status_code)
                continue
            opened.append(ws)
            outcomes.append(json.loads(await ws.recv())["event"])
        return outcomes, await asyncio.get_running_loop().run_in_executor(None, then, outcomes)
    finally:
        for ws in opened:
            await ws.close()


def _serve(tmp_path, redis_server, *args: str, **env_extra: str):
    env = cli_env(tmp_path, redis_server.url(12), LINLI_SECRET_KEY="socket-limit-secret-4b8e1d7a2c9f5e3b6d0a",
                  **env_extra)
    migrate(env)
    proc = start(["serve", "--workers", "1", *args], env, tmp_path, "serve")
    proc.wait_healthy()
    return proc


def test_sockets_on_the_json_pool_leave_it_threads_for_json(tmp_path, redis_server):
    proc = _serve(tmp_path, redis_server, "--threads", "4")
    host = f"127.0.0.1:{proc.port}"
    try:
        tokens = [_login(host, f"sock-{i}") for i in range(6)]

        def json_meanwhile(_):
            started = time.monotonic()
            statuses = [raw(proc.port, b"GET /api/v1/products HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                            timeout=5).status for _ in range(5)]
            return statuses, time.monotonic() - started

        outcomes, (statuses, took) = asyncio.run(_hold(host, tokens, json_meanwhile))
        # Half the threads (2 of 4) may hold sockets; the rest are refused 503, and JSON is answered.
        assert outcomes == ["ready", "ready", 503, 503, 503, 503], outcomes
        assert statuses == [200] * 5 and took < 5, (statuses, took)
    finally:
        proc.stop_group()


@pytest.mark.parametrize("pool", ["ws", "json"])
def test_one_user_holds_at_most_ws_max_per_user_sockets(tmp_path, redis_server, pool):
    args = ("--ws",) if pool == "ws" else ("--threads", "16")
    proc = _serve(tmp_path, redis_server, *args, LINLI_WS_MAX_PER_USER="3")
    host = f"127.0.0.1:{proc.port}"
    try:
        mine, other = _login(host, "greedy"), _login(host, "neighbour")
        outcomes, _ = asyncio.run(_hold(host, [mine] * 5 + [other], lambda _: None))
        assert outcomes == ["ready"] * 3 + [429, 429, "ready"], outcomes
        # Closed sockets give their slots back (once the server saw them close: within seconds).
        deadline = time.monotonic() + 20
        while True:
            outcomes, _ = asyncio.run(_hold(host, [mine] * 3, lambda _: None))
            if outcomes == ["ready"] * 3 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert outcomes == ["ready"] * 3, outcomes
    finally:
        proc.stop_group()
