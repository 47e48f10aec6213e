"""An RQ worker bound to the app: jobs run inside its app context (database, Redis, settings)."""
from __future__ import annotations

import logging

from redis import Redis
from rq import SimpleWorker

from app import clockwork
from app.config import Settings
from app.factory import create_app


def run_worker(settings: Settings | None = None, *, burst: bool = False, name: str | None = None) -> bool:
    # create_app wires the process: job modules (app/wiring.py JOB_MODULES) are imported up front,
    # as SimpleWorker does not fork per job.
    flask_app = create_app(settings)
    s = flask_app.extensions["linli.settings"]
    # The flash drainer and the deadline keeper beside the job loop (app/clockwork.py).
    stop = None if burst else clockwork.start(flask_app)[0]
    try:
        with flask_app.app_context():
            # A client of its own: RQ raises its socket timeout for the blocking dequeue (to 415 s),
            # which on the app's shared client left pooled connections with the 5 s timeout to
            # fail every BLPOP ("Timeout reading", an ERROR line and a 1 s pause every 6 s) and
            # gave the jobs' commands the long timeout.
            worker = SimpleWorker([s.queue_name], connection=Redis.from_url(s.redis_url, health_check_interval=30),
                                  name=name)
            logging.getLogger("rq.worker").setLevel(logging.INFO)
            return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    finally:
        if stop is not None:
            stop.set()
