"""A real `linli serve` (gunicorn, our gthread worker) spoken to with raw sockets: what gunicorn
answers itself is problem+json, chunked bodies obey the size limit, the access log keeps query
strings and secrets out, and every answer carries X-Request-ID."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ops.real_server import chunked, cli_env, migrate, raw, start

PROBLEM = "application/problem+json"
RID = re.compile(r"[A-Za-z0-9._-]{1,128}")


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    tmp = tmp_path_factory.mktemp("serve")
    env = cli_env(tmp, redis_server.url(7), LINLI_SECRET_KEY="serve-test-secret-7f3a9c1e5b2d8f4a6c0e")
    migrate(env)
    srv = start(["serve", "--workers", "1", "--threads", "4"], env, tmp, "serve")
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.stop_group()


def assert_problem(reply, status: int, code: str):
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.headers["content-type"].startswith(PROBLEM), reply.headers
    body = reply.json()
    assert body["status"] == status and body["code"] == code and body["title"] and body["detail"], body
    assert RID.fullmatch(reply.headers["x-request-id"])
    return body


def test_a_request_line_too_long_is_a_414_problem(server):
    reply = raw(server.port, b"GET /api/v1/products?q=" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert_problem(reply, 414, "uri_too_long")


def test_too_many_headers_is_a_431_problem(server):
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    assert_problem(raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n"), 431,
                   "request_header_fields_too_large")


def test_a_header_too_large_is_a_431_problem(server):
    reply = raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n")
    assert_problem(reply, 431, "request_header_fields_too_large")


@pytest.mark.parametrize("bad", [b"Bad Header Without Colon", b"Bad\x01Name: v", b"X-A: \x00nul"])
def test_a_malformed_header_is_a_400_problem(server, bad):
    assert_problem(raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + bad + b"\r\n\r\n"), 400,
                   "bad_request")


def test_a_malformed_chunk_is_a_400_problem(server):
    req = (b"POST /api/v1/auth/dev-login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
    assert_problem(raw(server.port, req), 400, "bad_request")


def post_chunked(port: int, path: str, body: bytes, headers: bytes = b""):
    return raw(port, b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               + headers + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body))


def test_a_chunked_body_over_the_limit_is_a_413_not_bad_json(server):
    body = b'{"openid": "' + b"x" * (1024 * 1024 + 10_000) + b'"}'
    assert_problem(post_chunked(server.port, "/api/v1/auth/dev-login", body), 413, "payload_too_large")


def test_a_chunked_body_within_the_limit_still_works(server):
    reply = post_chunked(server.port, "/api/v1/auth/dev-login", b'{"openid": "chunky"}')
    assert reply.status == 200 and reply.json()["user"]["nickname"] is not None


@pytest.mark.parametrize("depth", [500, 100_000])
def test_json_nested_deep_is_a_400_on_the_real_server(server, depth):
    assert_problem(post_chunked(server.port, "/api/v1/auth/dev-login", b"[" * depth + b"]" * depth), 400,
                   "bad_request")


def wait_for_log(server, needle: str, timeout: float = 10) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = server.output()
        if needle in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not in the log:\n{server.output()[-3000:]}")


def test_the_access_log_has_method_path_status_duration_and_request_id_but_no_query(server):
    reply = raw(server.port, b"GET /api/v1/products?token=SEKRIT-QUERY-TOKEN&limit=5 HTTP/1.1\r\nHost: t\r\n"
                              b"X-Request-ID: access-log-1\r\nConnection: close\r\n\r\n")
    assert reply.status == 200 and reply.headers["x-request-id"] == "access-log-1"
    text = wait_for_log(server, "rid=access-log-1")
    line = next(ln for ln in text.splitlines() if "rid=access-log-1" in ln)
    assert re.search(r'"GET /api/v1/products" 200 \d+ \d+ms rid=access-log-1$', line), line
    assert "SEKRIT" not in text and "limit=5" not in line


def test_a_fresh_request_id_is_logged_and_returned(server):
    reply = raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-ID: no good!\r\nConnection: close\r\n\r\n")
    rid = reply.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    wait_for_log(server, f"rid={rid}")


def test_a_newline_in_a_path_cannot_forge_an_access_log_line(server):
    raw(server.port, b"GET /x%0A1.2.3.4%20%22GET%20/forged%22%20200 HTTP/1.1\r\nHost: t\r\nX-Request-ID: nl-1\r\n"
                     b"Connection: close\r\n\r\n")
    text = wait_for_log(server, "rid=nl-1")
    assert not any(ln.startswith("1.2.3.4") for ln in text.splitlines())


def test_gunicorns_own_error_lines_are_scrubbed(server):
    # An invalid request line is logged by gunicorn with its text: the token in it is scrubbed.
    reply = raw(server.port, b"GET /x?token=SEKRIT-IN-A-BAD-LINE HTTP/1.1 junk\r\nHost: t\r\n\r\n")
    assert_problem(reply, 400, "bad_request")
    text = wait_for_log(server, "Invalid request")
    assert "SEKRIT-IN-A-BAD-LINE" not in text


def test_gunicorns_listening_line_names_the_address(server):
    # Each worker binds its own socket (SO_REUSEPORT), so the arbiter has none to name: the line
    # read "Listening at:  (5973)".
    text = wait_for_log(server, "Listening at:")
    line = next(ln for ln in text.splitlines() if "Listening at:" in ln)
    assert re.search(rf"Listening at: http://127\.0\.0\.1:{server.port} \(\d+\)", line), line


def _listening_inodes(pid: int, port: int) -> set[str]:
    """Inodes of the TCP sockets listening on `port` among the process's open files (Linux /proc)."""
    listening = set()
    for table in ("tcp", "tcp6"):
        for line in open(f"/proc/{pid}/net/{table}").read().splitlines()[1:]:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "0A":  # 0A: LISTEN
                listening.add(f[9])
    mine = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in listening:
            mine.add(target[8:-1])
    return mine


def test_every_worker_listens_on_its_own_socket(tmp_path, redis_server):
    """SO_REUSEPORT: the kernel spreads new connections over the workers' sockets. On one shared
    socket the worker that happens to be on a CPU takes a burst of connections nearly alone."""
    env = cli_env(tmp_path, redis_server.url(7), LINLI_SECRET_KEY="serve-test-secret-7f3a9c1e5b2d8f4a6c0e")
    migrate(env)
    srv = start(["serve", "--workers", "2", "--threads", "2"], env, tmp_path, "serve")
    try:
        srv.wait_healthy()
        # Healthy means one worker answers: the other may still be booting (on a loaded machine
        # it binds its socket a few seconds later).
        deadline = time.time() + 20
        while True:
            workers = [int(p) for p in Path(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read_text().split()]
            sockets = [_listening_inodes(w, srv.port) for w in workers]
            if (len(workers) == 2 and all(sockets)) or time.time() > deadline:
                break
            time.sleep(0.2)
        assert len(workers) == 2
        assert all(len(s) == 1 for s in sockets) and sockets[0] != sockets[1], sockets
        assert _listening_inodes(srv.proc.pid, srv.port) == set()  # the master holds none
    finally:
        srv.stop_group()


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_another_server_listens_on_is_refused_not_shared(reuse_port, tmp_path, redis_server):
    """Workers that set SO_REUSEPORT would share a port with another server of the same user
    that set it too (a second `linli serve` started by mistake): serve finds it taken first."""
    env = cli_env(tmp_path, redis_server.url(7), LINLI_SECRET_KEY="serve-test-secret-7f3a9c1e5b2d8f4a6c0e")
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT if reuse_port else socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env,
                             capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in out.stderr, out.stderr[-2000:]
