"""`linli serve`: gunicorn with gthread workers whose own error answers (414, 431, bad headers or
chunks) are problem+json like the app's, and an access log without query strings.
`linli serve --ws`: the same app on gevent workers, the pool that holds WebSockets (`/api/v1/ws`):
one greenlet per socket instead of one thread, so a process holds thousands."""
from __future__ import annotations

import json
import os
import socket

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger, SafeAtoms
from gunicorn.workers.ggevent import GeventWorker
from gunicorn.workers.gthread import ThreadWorker
from prometheus_client import multiprocess

from app import logging_setup
from app.chat.routes import JSON_POOL_SOCKETS
from app.config import Settings
from app.errors import HTTP_CODES
from app.factory import create_app
from app.request_context import REQUEST_ID_HEADER, request_id_from

# method, path WITHOUT the query string (tokens and codes stay out), status, bytes, duration, id
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'

_GUNICORN_DETAILS = {
    400: "The request could not be parsed (request line, headers or chunked body).",
    414: "The request line is longer than this server accepts.",
    431: "The request headers are too many or too large.",
}


def gunicorn_problem(status: int, reason: str, request_id: str) -> bytes:
    code = HTTP_CODES.get(status, "http_error")
    body = json.dumps({"type": f"https://linli.dev/problems/{code}", "title": reason, "status": status,
                       "detail": _GUNICORN_DETAILS.get(status, reason), "code": code}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
            f"Content-Length: {len(body)}\r\n{REQUEST_ID_HEADER}: {request_id}\r\n\r\n")
    return head.encode("latin-1") + body


class _CapturedSocket:
    """Stands in for the client socket while gunicorn writes its HTML error page."""

    def __init__(self):
        self.data = b""

    def gettimeout(self):
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.data += data

    def status(self) -> tuple[int, str]:
        line = self.data.split(b"\r\n", 1)[0].decode("latin-1")  # "HTTP/1.1 414 URI Too Long"
        parts = line.split(" ", 2)
        try:
            return int(parts[1]), parts[2] if len(parts) > 2 else "Error"
        except (IndexError, ValueError):
            return 400, "Bad Request"


class ProblemJSONErrors:
    """The errors gunicorn answers itself (414, 431, bad headers or chunks) are problem+json like
    the app's. gunicorn decides the status (and logs); we write the body."""

    def handle_error(self, req, client, addr, exc):
        captured = _CapturedSocket()
        super().handle_error(req, captured, addr, exc)
        status, reason = captured.status()
        sent = dict((req.headers if req is not None else []) or []).get(REQUEST_ID_HEADER.upper())
        try:
            util.write_nonblock(client, gunicorn_problem(status, reason, request_id_from(sent)))
        except Exception:  # noqa: BLE001 - the client may be gone; gunicorn does the same
            self.log.debug("Failed to send error message.")


class ProblemJSONWorker(ProblemJSONErrors, ThreadWorker):
    """gthread with problem+json errors: the JSON API's pool."""


def gevent_worker_class():
    """gevent with problem+json errors: the WebSocket pool. Built on demand, so that gevent is
    imported only in a process that runs it (gunicorn monkey-patches in the worker, after fork)."""

    return type("ProblemJSONGeventWorker", (ProblemJSONErrors, GeventWorker), {"__module__": __name__})


class EscapedAtoms(SafeAtoms):
    """A percent-encoded newline in a path must not start a forged access-log line. Escaped when
    the format reads an atom (7 of some 30, every request), as SafeAtoms' quoting is."""

    def __init__(self, atoms):
        dict.__init__(self, atoms)

    def __getitem__(self, k):
        v = super().__getitem__(k)
        return v.encode("unicode_escape").decode("ascii").replace('"', '\\"') if isinstance(v, str) else v


LISTENING = "Listening at: %s (%s)"  # gunicorn's arbiter, once booted


def bound_addresses(cfg) -> str:
    """The configured binds as gunicorn names its listeners (http://host:port, http://[::1]:port)."""
    out = []
    for addr in cfg.address:
        if isinstance(addr, tuple):
            host, port = addr[0], addr[1]
            out.append(f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")
        else:
            out.append(f"unix:{addr}")
    return ",".join(out)


class AccessLogger(Logger):
    atoms_wrapper_class = EscapedAtoms

    def setup(self, cfg):
        # gunicorn's own lines in the format and zone of every other linli line (UTC; JSON with
        # LINLI_LOG_FORMAT=json, when the app logs each request itself and the access log is off).
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(logging_setup.formatter())

    def info(self, msg, *args, **kwargs):
        # With reuse_port the arbiter holds no listening socket (each worker binds its own), so
        # its "Listening at" line named none: "Listening at:  (5973)". Name the configured bind.
        if msg == LISTENING and args and not args[0]:
            args = (bound_addresses(self.cfg), *args[1:])
        super().info(msg, *args, **kwargs)


WS_REQUEST_WAIT_S = 20  # the socket pool: how long a connection may take to send its request


def run_server(settings: Settings, *, host: str, port: int, workers: int, threads: int, ws: bool = False,
               connections: int = 2000) -> None:
    """gunicorn in the foreground. Refuses a bind the settings do not allow (see bind_refusal).
    `ws`: gevent workers of up to `connections` open sockets each (the WebSocket pool)."""

    refusal = settings.bind_refusal(host)
    if refusal:
        raise SystemExit(f"linli serve: {refusal}")
    access_log = None if settings.access_log.lower() in ("", "off", "none", "0") else settings.access_log
    if logging_setup.log_format() == "json":
        access_log = None  # each request is a JSON line of the app's own (app/observability.py)

    class _App(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
            self.cfg.set("workers", workers)
            if ws:
                self.cfg.set("worker_class", gevent_worker_class())
                self.cfg.set("worker_connections", connections)
                # gunicorn's async workers read even a connection's FIRST request under the
                # keep-alive timeout (2 s by default) and close it silently when it runs out: a
                # client slow to send its upgrade request (a phone on a poor network, or 1,000
                # sockets opening at once) saw "did not receive a valid HTTP response". A waiting
                # connection costs a greenlet here, not a thread.
                self.cfg.set("keepalive", WS_REQUEST_WAIT_S)
            else:
                self.cfg.set("worker_class", "app.server.ProblemJSONWorker")
                self.cfg.set("threads", threads)
                # Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads
                # new connections over them. On one shared socket every worker wakes for a new
                # connection and whichever is on a CPU takes it: 64 keep-alive connections opened
                # at once (a proxy's pool, wrk) landed 46/9/5/3/1 on five workers, and the
                # crowded one set the p99.
                self.cfg.set("reuse_port", True)
            self.cfg.set("logger_class", "app.server.AccessLogger")
            self.cfg.set("accesslog", access_log)
            self.cfg.set("access_log_format", ACCESS_LOG_FORMAT)
            self.cfg.set("timeout", 60)
            self.cfg.set("child_exit", metrics_child_exit)
            self.cfg.set("graceful_timeout", 20)
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self):
            app = create_app(settings)
            if not ws:
                # The JSON pool holds a socket on one of its threads for as long as it is open:
                # at most half of them, so that sockets never starve JSON requests.
                app.extensions[JSON_POOL_SOCKETS] = max(1, threads // 2)
            return app

    if not ws:
        taken = _port_taken(host, port)
        if taken:
            raise SystemExit(f"linli serve: {taken}")
    _App().run()


def metrics_child_exit(_server, worker) -> None:
    """gunicorn's child_exit hook: a dead worker's live gauges (open WebSockets) stop counting, as
    prometheus_client's multiprocess mode asks."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


def _port_taken(host: str, port: int) -> str | None:
    """Why host:port cannot be listened on, if it cannot. With SO_REUSEPORT the workers would
    share a port with any other server of this user that set it too (another `linli serve`
    started by mistake) instead of failing: a socket without the flag finds it taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        return f"cannot listen on {host}:{port}: {e.strerror}"
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn's own: TIME_WAIT is no conflict
        try:
            probe.bind(addr)
        except OSError as e:
            return f"cannot listen on {host}:{port}: {e.strerror}"
    return None
