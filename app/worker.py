"""An RQ worker bound to the app: jobs run inside its app context (database, Redis, settings)."""
from __future__ import annotations

import importlib
import logging

from rq import SimpleWorker

from app import create_app
from app.config import Settings


def run_worker(settings: Settings | None = None, *, burst: bool = False, name: str | None = None) -> bool:
    # Job modules are imported up front; SimpleWorker does not fork per job (RQ's forking worker
    # re-imports and manages ~20 jobs/s here, SimpleWorker ~200).
    importlib.import_module("app.jobs_registry")
    flask_app = create_app(settings)
    s = flask_app.extensions["linli.settings"]
    with flask_app.app_context():
        worker = SimpleWorker([s.queue_name], connection=flask_app.extensions["linli.redis"], name=name)
        logging.getLogger("rq.worker").setLevel(logging.INFO)
        return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
