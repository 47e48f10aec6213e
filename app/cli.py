"""The `linli` console script."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import click

from app.config import Settings


def _settings() -> Settings:
    return Settings()


@click.group()
def main() -> None:
    """linli (邻里) — community group-buying backend."""
    logging.basicConfig(level=os.environ.get("LINLI_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema to the latest revision."""
    from app.migrate import upgrade

    s = _settings()
    upgrade(s.database_url, revision)
    click.echo(f"database at {revision}: {s.database_url.split('@')[-1]}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", "nworkers", default=None, type=int, help="gunicorn processes (default: 2 × cores + 1)")
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, nworkers: int | None, threads: int) -> None:
    """The HTTP API under gunicorn (gthread workers)."""
    from gunicorn.app.base import BaseApplication

    from app import create_app

    class _App(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", nworkers or (2 * (os.cpu_count() or 1) + 1))
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", os.environ.get("LINLI_ACCESS_LOG") or None)
            self.cfg.set("timeout", 60)
            self.cfg.set("graceful_timeout", 20)
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self):
            return create_app(_settings())

    _App().run()


@main.command()
@click.option("--burst", is_flag=True, help="Run queued jobs, then exit")
def worker(burst: bool) -> None:
    """An RQ worker (run as many as you like)."""
    from workers.worker import run_worker

    run_worker(_settings(), burst=burst)


@main.command()
def scheduler() -> None:
    """The periodic-job scheduler (run exactly one)."""
    from workers.scheduler import run_scheduler

    run_scheduler(_settings())


@main.command("seed-demo")
@click.option("--force", is_flag=True, help="Load even if demo data is already there")
def seed_demo(force: bool) -> None:
    """Load demo data once: an admin, leaders around Hangzhou, products."""
    from app import create_app
    from app.demo import seed

    app = create_app(_settings())
    with app.app_context():
        click.echo(seed(force=force))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def dev(host: str, port: int) -> None:
    """API + worker + scheduler in the foreground for local use; Ctrl-C stops all three."""
    exe = [sys.executable, "-m", "app.cli"]
    procs = [
        subprocess.Popen(exe + ["serve", "--host", host, "--port", str(port), "--workers", "2"]),
        subprocess.Popen(exe + ["worker"]),
        subprocess.Popen(exe + ["scheduler"]),
    ]
    click.echo(f"linli dev: API on http://{host}:{port} (docs /api/docs, console /leader); Ctrl-C to stop")
    stopping = False

    def _stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 15
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
    failed = [p.args[3] for p in procs if p.returncode not in (0, -signal.SIGTERM, None) and not stopping]
    if failed:
        raise SystemExit(f"stopped because {', '.join(failed)} exited")


# ---- manifests (self-contained: the nightly build on demand) ---------------------------------

@main.group()
def manifests() -> None:
    """Pickup manifests."""


@manifests.command("build")
@click.option("--date", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Delivery date, YYYY-MM-DD")
def manifests_build(day) -> None:
    """Ship the date's paid orders and build its manifests now (the nightly job, run here)."""
    import json

    from app import create_app
    from app.manifest.jobs import build_manifests_job

    app = create_app(_settings())
    with app.app_context():
        click.echo(json.dumps(build_manifests_job(day.date().isoformat()), ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
