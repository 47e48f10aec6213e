"""The `linli` console script.

Each command imports what it runs inside its own function: `linli db upgrade` must work where the
app cannot be built yet, and `linli --help` should not load every domain."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click
from pydantic import ValidationError

from app.config import Settings


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as e:
        # One readable line per broken rule instead of a traceback.
        raise click.ClickException("invalid configuration:\n" + "\n".join(
            f"  {err['msg'].removeprefix('Value error, ')}" for err in e.errors())) from None


@click.group()
def main() -> None:
    """linli (邻里) — community group-buying backend."""
    from app.logging_setup import configure

    configure(os.environ.get("LINLI_LOG_LEVEL", "INFO"))


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
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Outside LINLI_ENV=prod only loopback, unless LINLI_ALLOW_REMOTE_DEV=1")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", "nworkers", default=None, type=int, help="gunicorn processes (default: one per core)")
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--ws", is_flag=True, help="The WebSocket pool: gevent workers for /api/v1/ws (see README)")
@click.option("--connections", default=2000, show_default=True, type=int,
              help="With --ws: open sockets per worker process")
def serve(host: str, port: int, nworkers: int | None, threads: int, ws: bool, connections: int) -> None:
    """The HTTP API under gunicorn (gthread workers), with an access log (LINLI_ACCESS_LOG);
    with --ws, the WebSocket pool (gevent workers)."""
    from app.server import run_server

    settings = _settings()
    refusal = settings.bind_refusal(host)
    if refusal:
        raise click.ClickException(refusal)
    # One process per core, its threads for the waits (database, Redis, WeChat): Python runs one
    # thread of a process at a time, so a second process per core only adds the kernel's time
    # slicing to every request's latency (bench/README.md: p99 at 64 connections).
    default_workers = os.cpu_count() or 1
    run_server(settings, host=host, port=port, workers=nworkers or default_workers, threads=threads, ws=ws,
               connections=connections)


@main.command()
@click.option("--burst", is_flag=True, help="Run queued jobs, then exit")
def worker(burst: bool) -> None:
    """An RQ worker (run as many as you like)."""
    from app.worker import run_worker

    run_worker(_settings(), burst=burst)


@main.command()
def scheduler() -> None:
    """The periodic-job scheduler (run exactly one)."""
    from app.scheduler import run_scheduler

    run_scheduler(_settings())


@main.command("seed-demo")
@click.option("--force", is_flag=True, help="Load even if demo data is already there")
def seed_demo(force: bool) -> None:
    """Load demo data once: an admin, leaders around Hangzhou, products."""
    from app.demo import seed
    from app.factory import create_app

    app = create_app(_settings())
    with app.app_context():
        click.echo(seed(force=force))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Outside LINLI_ENV=prod only loopback, unless LINLI_ALLOW_REMOTE_DEV=1")
@click.option("--port", default=8000, show_default=True, type=int)
def dev(host: str, port: int) -> None:
    """API + worker + scheduler in the foreground for local use; Ctrl-C stops all three."""
    refusal = _settings().bind_refusal(host)
    if refusal:
        raise click.ClickException(refusal)
    exe = [sys.executable, "-m", "app.cli"]
    commands = {"serve": exe + ["serve", "--host", host, "--port", str(port), "--workers", "2"],
                "worker": exe + ["worker"], "scheduler": exe + ["scheduler"]}
    stopping = False

    def _stop(*_):
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)
    # Each child leads its own session and process group: a terminal's Ctrl-C reaches this process
    # alone, which then stops each group as a whole (gunicorn's workers, RQ's scheduler fork),
    # so nothing is left holding the port or half-stopped by two signals at once.
    procs = {name: subprocess.Popen(cmd, start_new_session=True) for name, cmd in commands.items()}
    click.echo(f"linli dev: API on http://{host}:{port} (docs /api/docs, console /leader); Ctrl-C to stop")
    try:
        while not stopping and all(p.poll() is None for p in procs.values()):
            time.sleep(0.2)
    finally:
        failed = [name for name, p in procs.items() if p.poll() is not None and not stopping]
        _stop_groups(list(procs.values()))
    if failed:
        raise SystemExit(f"stopped because {', '.join(failed)} exited")


def _stop_groups(procs: list[subprocess.Popen], grace_s: float = 5) -> None:
    """SIGTERM each child's process group, wait for the leaders (a few seconds: in development a
    half-sent request is not worth waiting for), then SIGKILL whatever is left in
    the groups (stragglers whose leader is gone, or a leader that would not stop in time)."""
    for p in procs:
        _killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for p in procs:
        _killpg(p.pid, signal.SIGKILL)
        p.wait()


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group has exited already


# ---- manifests (self-contained: the nightly build on demand) ---------------------------------

@main.group()
def manifests() -> None:
    """Pickup manifests."""


@manifests.command("build")
@click.option("--date", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Delivery date, YYYY-MM-DD: at most 31 days back, at most the date orders are given now")
def manifests_build(day) -> None:
    """Ship the date's paid orders and build its manifests now (the nightly job, run here)."""
    import json

    from app.errors import DomainError
    from app.factory import create_app
    from app.manifest.jobs import build_manifests_job
    from app.manifest.service import check_build_date

    settings = _settings()
    try:
        check_build_date(settings, day.date())
    except DomainError as e:
        raise click.ClickException(f"{e.code}: {e.detail}") from None
    app = create_app(settings)
    with app.app_context():
        click.echo(json.dumps(build_manifests_job(day.date().isoformat()), ensure_ascii=False, default=str))


# ---- reconciliation (对账) ---------------------------------------------------------------------

@main.command()
@click.option("--date", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Bill date, YYYY-MM-DD (WeChat Pay's day, Beijing time)")
def reconcile(day) -> None:
    """Match a date's WeChat Pay bills against our payments, refunds and transfers, and check our
    own ledgers, now; prints the report (as GET /admin/reconciliations/{date} answers it)."""
    import json

    from app.factory import create_app
    from app.payment import flows as payment_flows
    from app.reconcile import flows

    settings = _settings()
    app = create_app(settings)
    with app.app_context():
        report = flows.reconcile(day.date(), settings=settings, provider=payment_flows.provider())
    click.echo(json.dumps(report, ensure_ascii=False, default=str, indent=2))
    if report["status"] == "not_run":
        raise SystemExit(f"reconciliation of {day.date()} not done: {(report['run'] or {}).get('error')}")


# ---- flash sales (self-contained) ------------------------------------------------------------

@main.group("flash-sales")
def flash_sales() -> None:
    """Flash sales: the drain loop, Redis rebuild, blocking users."""


@flash_sales.command("drain")
@click.option("--consumer", default=None, help="Consumer name in the stream's group (default host-pid)")
@click.option("--min-idle-ms", default=30_000, show_default=True,
              help="Re-claim another consumer's unacknowledged reservations after this long")
def flash_sales_drain(consumer, min_idle_ms) -> None:
    """Turn reservations into orders, in batches, until stopped."""
    from app.factory import create_app
    from app.flashsale.jobs import drain_forever

    app = create_app(_settings())
    with app.app_context():
        drain_forever(consumer=consumer, min_idle_ms=min_idle_ms)


@flash_sales.command("reconcile")
@click.argument("sale_ids", nargs=-1, type=int)
def flash_sales_reconcile(sale_ids) -> None:
    """Rebuild sales' Redis state from the database (all live sales if none named)."""
    from app.factory import create_app
    from app.flashsale import flows

    app = create_app(_settings())
    with app.app_context():
        for sale_id in sale_ids or flows.live_sale_ids():
            click.echo(f"flash sale {sale_id}: {flows.reconcile(sale_id)} units left")


@flash_sales.command("block")
@click.argument("user_id", type=int)
@click.option("--unblock", is_flag=True)
def flash_sales_block(user_id, unblock) -> None:
    """Keep a user out of every flash sale (or let them back in)."""
    from app.factory import create_app
    from app.flashsale import service

    app = create_app(_settings())
    with app.app_context():
        service.block_user(user_id, blocked=not unblock)


# ---- shipping sync (self-contained) ----------------------------------------------------------

@main.group()
def shipping() -> None:
    """WeChat's order shipping sync (发货信息录入)."""


@shipping.command("set-jump-path")
@click.option("--path", "page", required=True,
              help="Mini-program page WeChat's shipping and receipt messages open, e.g. pages/order/detail")
def shipping_set_jump_path(page: str) -> None:
    """Tell WeChat once where its shipping messages open the mini-program (set_msg_jump_path)."""
    from app.factory import create_app
    from app.shipping import flows
    from app.wechat import WechatApiError

    app = create_app(_settings())
    with app.app_context():
        try:
            flows.set_msg_jump_path(page)
        except WechatApiError as e:
            raise click.ClickException(f"WeChat refused set_msg_jump_path: {e}") from None
    click.echo(f"shipping messages now open {page}")


@shipping.command("sweep")
def shipping_sweep() -> None:
    """Run the daily sweep now: WeChat's payments awaiting shipment, reconciled with ours."""
    import json

    from app.factory import create_app
    from app.shipping import flows

    app = create_app(_settings())
    with app.app_context():
        click.echo(json.dumps(flows.sweep_wechat_orders()))


if __name__ == "__main__":
    main()
