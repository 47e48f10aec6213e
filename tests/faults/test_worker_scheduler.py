"""Issue 18: a worker killed with SIGKILL takes its RQ scheduler child with it (RQ's own scheduler
process ran on alone, orphaned, holding the queue's scheduler lock)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.ops.real_server import cli_env, migrate


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has stopped: only its parent's wait is missing


def test_a_worker_killed_with_sigkill_takes_its_scheduler_child_with_it(tmp_path, redis_server):
    env = cli_env(tmp_path, redis_server.url(11))
    migrate(env)
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    scheduler = None
    try:
        deadline = time.time() + 60
        while time.time() < deadline and scheduler is None:
            assert worker.poll() is None, log.read_text()[-3000:]
            kids = _children(worker.pid)
            scheduler = kids[0] if kids else None
            time.sleep(0.2)
        assert scheduler is not None, "the worker started no scheduler:\n" + log.read_text()[-3000:]
        time.sleep(1)  # the scheduler is in its loop
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        deadline = time.time() + 10
        while time.time() < deadline and _running(scheduler):
            time.sleep(0.1)
        assert not _running(scheduler), "the scheduler outlived its worker"
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
        if scheduler is not None and _running(scheduler):
            os.kill(scheduler, signal.SIGKILL)
