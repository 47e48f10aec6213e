"""The process's own Prometheus metrics (prometheus_client). Under `linli serve` every gunicorn
worker writes them to files in PROMETHEUS_MULTIPROC_DIR (set and wiped by the CLI before this
module is first imported, app/cli.py), and GET /metrics adds them up (app/observability.py).
Every gauge says its multiprocess_mode, as prometheus_client's docs ask. No app imports here:
any module may count something."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("linli_http_requests_total", "HTTP requests answered, by route template and status",
                        ["method", "route", "status"])
HTTP_DURATION = Histogram("linli_http_request_duration_seconds", "Time to answer, by route template and status",
                          ["method", "route", "status"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
FLASH_PURCHASES = Counter("linli_flash_reservations_total",
                          "Flash purchases by result: accepted (a pending reservation) or the refusal's code",
                          ["result"])
WEBSOCKETS_OPEN = Gauge("linli_websockets_open", "WebSockets open in this serve pool", multiprocess_mode="livesum")

# Written by the worker that builds manifests (no HTTP server of its own), read by GET /metrics.
MANIFEST_BUILD_KEY = "linli:metrics:manifest-build"
