"""GET /metrics (contract, Operations) and the per-request counting behind it.

- The metrics of every gunicorn worker of this `serve` (app/metrics.py, multiprocess files) added
  up by prometheus_client's MultiProcessCollector; outside gunicorn, the process's own.
- Read at scrape time, from Redis and the database: RQ queue depth and failed jobs, each live
  flash sale's drain lag (the age of its oldest reservation not yet turned into an order) and
  backlog, refunds and withdrawals by status with the oldest's age, the last manifest build's duration.
- Answered to loopback callers (no proxy header saying it forwards someone) or to
  `Authorization: Bearer $LINLI_METRICS_TOKEN`; 404 to anyone else, as for a path that is not there.
"""
from __future__ import annotations

import hmac
import logging
import os
import re
import time
from datetime import datetime, timezone

from flask import Flask, Response, abort, g, request
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from app import logging_setup
from app.db import reading
from app.earnings import service as earnings_service
from app.flashsale import flows as flash_flows
from app.flashsale.service import GROUP as DRAIN_GROUP
from app.flashsale.service import keys as flash_keys
from app.flashsale.service import rds as flash_redis
from app.metrics import HTTP_DURATION, HTTP_REQUESTS, MANIFEST_BUILD_KEY
from app.payment import service as payment_service
from app.request_context import REQUEST_ID_ENVIRON, current_request_id, outside_flask_request_id, request_is_local

log = logging.getLogger(__name__)

ROUTE_ENVIRON = "linli.route"
USER_ENVIRON = "linli.user_id"
request_log = logging.getLogger("linli.request")
_PURCHASE = re.compile(r"^/api/v1/flash-sales/\d+/purchase$")
_PURCHASE_ROUTE = "/api/v1/flash-sales/<int:sale_id>/purchase"
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes, for any Prometheus
_UNMEASURED = ("/api/v1/ws",)  # a socket's "request" lasts as long as the socket


def _entry_ms(entry_id: str) -> int:
    return int(str(entry_id).split("-", 1)[0])


class ScrapeCollector:
    """What is read when scraped rather than counted as it happens."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        with self.app.app_context():
            yield from self._safely(self._queue)
            yield from self._safely(self._drain)
            yield from self._safely(self._refunds)
            yield from self._safely(self._withdrawals)
            yield from self._safely(self._manifest)

    def _safely(self, part):
        try:
            yield from part()
        except Exception as e:  # noqa: BLE001 - a scrape answers with what it could read
            log.warning("metrics: %s not read: %r", part.__name__, e)

    def _queue(self):
        s, r = self.app.extensions["linli.settings"], self.app.extensions["linli.redis"]
        q = Queue(s.queue_name, connection=r)
        g = GaugeMetricFamily("linli_rq_jobs", "RQ jobs by state (queued: the queue depth)",
                              labels=["queue", "state"])
        g.add_metric([s.queue_name, "queued"], q.count)
        g.add_metric([s.queue_name, "started"], StartedJobRegistry(queue=q).count)
        g.add_metric([s.queue_name, "scheduled"], ScheduledJobRegistry(queue=q).count)
        g.add_metric([s.queue_name, "failed"], FailedJobRegistry(queue=q).count)
        yield g

    def _drain(self):
        lag = GaugeMetricFamily("linli_flash_drain_lag_seconds",
                                "Age of the oldest reservation not yet turned into an order (0: none waiting)",
                                labels=["sale_id"])
        backlog = GaugeMetricFamily("linli_flash_drain_backlog", "Reservations not yet turned into orders",
                                    labels=["sale_id"])
        r, now_ms = flash_redis(), time.time() * 1000
        for sale_id in flash_flows.live_sale_ids():
            stream = flash_keys(sale_id)["stream"]
            oldest, waiting = None, 0
            groups = {g["name"]: g for g in r.xinfo_groups(stream)} if r.exists(stream) else {}
            group = groups.get(DRAIN_GROUP)
            if group is not None:
                waiting = int(group.get("pending") or 0) + int(group.get("lag") or 0)
                if group.get("pending"):
                    oldest = _entry_ms(r.xpending(stream, DRAIN_GROUP)["min"])
                undelivered = r.xrange(stream, min=f"({group['last-delivered-id']}", count=1)
                if undelivered:
                    first = _entry_ms(undelivered[0][0])
                    oldest = first if oldest is None else min(oldest, first)
            lag.add_metric([str(sale_id)], max(0.0, (now_ms - oldest) / 1000) if oldest else 0.0)
            backlog.add_metric([str(sale_id)], waiting)
        yield lag
        yield backlog

    def _refunds(self):
        with reading() as s:
            by_status = payment_service.refunds_by_status(s)
        count = GaugeMetricFamily("linli_refunds", "Refunds by status", labels=["status"])
        age = GaugeMetricFamily("linli_refunds_oldest_age_seconds",
                                "Seconds since the oldest refund of a status last changed", labels=["status"])
        now = datetime.now(timezone.utc)
        for status in ("pending", "processing", "succeeded", "failed"):
            n, oldest = by_status.get(status, (0, None))
            count.add_metric([status], n)
            if oldest is not None:
                oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=timezone.utc)
                age.add_metric([status], max(0.0, (now - oldest).total_seconds()))
        yield count
        yield age

    def _withdrawals(self):
        with reading() as s:
            by_status = earnings_service.withdrawals_by_status(s)
        count = GaugeMetricFamily("linli_withdrawals", "Leaders' withdrawals by status", labels=["status"])
        age = GaugeMetricFamily("linli_withdrawals_oldest_age_seconds",
                                "Seconds since the oldest withdrawal of a status last changed", labels=["status"])
        now = datetime.now(timezone.utc)
        for status in earnings_service.WithdrawalStatus:
            n, oldest = by_status.get(status.value, (0, None))
            count.add_metric([status.value], n)
            if oldest is not None:
                oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=timezone.utc)
                age.add_metric([status.value], max(0.0, (now - oldest).total_seconds()))
        yield count
        yield age

    def _manifest(self):
        got = self.app.extensions["linli.redis"].hgetall(MANIFEST_BUILD_KEY)
        if got:
            got = {k.decode() if isinstance(k, bytes) else k: float(v) for k, v in got.items()}
            yield GaugeMetricFamily("linli_manifest_build_seconds", "How long the last manifest build took",
                                    value=got.get("seconds", 0.0))
            yield GaugeMetricFamily("linli_manifest_build_finished_timestamp_seconds",
                                    "When the last manifest build ended (Unix time)", value=got.get("finished_at", 0.0))


def may_read_metrics(token: str | None) -> bool:
    if request_is_local():
        return True
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def render(app: Flask) -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    scraped = CollectorRegistry()
    scraped.register(ScrapeCollector(app))
    return counted + generate_latest(scraped)


class MeasuredApp:
    """Outermost WSGI layer: counts every request, those the purchase lane answers ahead of Flask
    included, by its route template (Flask's, put in the environ; "unmatched" for unknown paths,
    so that a scan cannot grow the label set)."""

    def __init__(self, wsgi_app, *, log_requests: bool = False):
        self.wsgi_app = wsgi_app
        self.log_requests = log_requests

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(_UNMEASURED):
            return self.wsgi_app(environ, start_response)
        started, status = time.perf_counter(), ["500"]

        def _start(s, headers, exc_info=None):
            status[0] = s[:3]
            return start_response(s, headers, exc_info)

        try:
            return self.wsgi_app(environ, _start)
        finally:
            method = environ.get("REQUEST_METHOD", "GET")
            route = environ.get(ROUTE_ENVIRON) or (_PURCHASE_ROUTE if _PURCHASE.match(path) else "unmatched")
            HTTP_REQUESTS.labels(method, route, status[0]).inc()
            took = time.perf_counter() - started
            HTTP_DURATION.labels(method, route, status[0]).observe(took)
            if self.log_requests:
                self._log(environ, method, route, path, int(status[0]), took)

    @staticmethod
    def _log(environ, method: str, route: str, path: str, status: int, took: float) -> None:
        """LINLI_LOG_FORMAT=json: the request's own line (gunicorn's access log is off then)."""
        token = outside_flask_request_id.set(environ.get(REQUEST_ID_ENVIRON) or "-")
        try:
            request_log.info("%s %s %s", method, path, status,
                             extra={"method": method, "route": route, "path": path, "status": status,
                                    "duration_ms": round(took * 1000, 1), "user_id": environ.get(USER_ENVIRON)})
        finally:
            outside_flask_request_id.reset(token)


def install(app: Flask, limiter) -> None:
    """The /metrics route and the request counting (after the purchase lane: in front of it)."""
    token = app.extensions["linli.settings"].metrics_token

    @app.url_value_preprocessor
    def _note_route(_endpoint, _values):
        if request.url_rule is not None:
            request.environ[ROUTE_ENVIRON] = request.url_rule.rule

    @app.get("/metrics", doc_ui=False)
    def metrics():
        if not may_read_metrics(token):
            abort(404)
        return Response(render(app), content_type=TEXT_FORMAT)

    @app.after_request
    def _note_caller(response):
        request.environ[REQUEST_ID_ENVIRON] = current_request_id()
        principal = g.get("principal")
        request.environ[USER_ENVIRON] = principal.user_id if principal is not None else g.get("token_user_id")
        return response

    limiter.exempt(metrics)
    app.wsgi_app = MeasuredApp(app.wsgi_app, log_requests=logging_setup.log_format() == "json")
