"""An RQ worker bound to the app: jobs run inside its app context (database, Redis, settings)."""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

from redis import Redis
from rq import SimpleWorker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.scheduler import RQScheduler

from app import clockwork
from app.config import Settings
from app.factory import create_app

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _stop_with_parent(parent_pid: int) -> None:
    """In a forked child: SIGTERM when the parent dies, however it dies (SIGKILL included).
    Linux's parent-death signal; the scheduler's own loop checks its parent too (other systems,
    and a parent that died before this call)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the loop's check alone
            pass
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)


class WorkerBoundScheduler(RQScheduler):
    """RQ's scheduler process, forked by the worker, stops with it. RQ's own stops when the worker
    stops cleanly, but a worker killed with SIGKILL (the OOM killer, `kill -9`, a container
    runtime's timeout) left it running on its own: enqueuing due jobs for a queue no worker of
    that generation serves, and holding the queue's scheduler lock."""

    _parent_pid: int = 0

    def start(self):
        self._parent_pid = os.getpid()
        return super().start()

    def work(self):  # runs in the forked child
        if self._parent_pid:
            # Installed first: RQ's own SIGTERM handler (a clean stop, locks released) replaces
            # the default as soon as work() begins.
            self._install_signal_handlers()
            _stop_with_parent(self._parent_pid)
        return super().work()

    def heartbeat(self):
        if self._parent_pid and os.getppid() != self._parent_pid:
            self.log.warning("Scheduler: its worker (pid %s) is gone; stopping", self._parent_pid)
            self.request_stop()
            return
        super().heartbeat()


class AppWorker(SimpleWorker):
    """SimpleWorker (jobs in this process, inside the app context) whose scheduler stops with it."""

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO",
                         date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
                         log_format: str = DEFAULT_LOGGING_FORMAT) -> None:
        # rq 3.0's Worker._start_scheduler, with the scheduler class replaced.
        self.scheduler = WorkerBoundScheduler(
            self.queues, connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format, log_format=log_format, serializer=self.serializer)
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            if burst:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            else:
                self.scheduler.start()


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
            worker = AppWorker([s.queue_name], connection=Redis.from_url(s.redis_url, health_check_interval=30),
                               name=name)
            logging.getLogger("rq.worker").setLevel(logging.INFO)
            return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    finally:
        if stop is not None:
            stop.set()
