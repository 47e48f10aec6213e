"""Who runs a date: one run at a time whoever asks (the daily job, its retry, the sweep, an
operator's `linli reconcile`), the CLI printing what the API reports, and a deployment on the
sandbox provider, which has no WeChat Pay bills but still has its own books to check."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from app.cli import main
from app.db import transaction, utcnow
from app.payment import flows as payment_flows
from app.points import service as points_service
from app.points.models import PointAccount
from app.reconcile import flows, service
from app.reconcile.errors import ReconciliationRunning
from tests.concurrency import run_together


def reconcile_now(app, day):
    with app.app_context():
        return flows.reconcile(day, settings=app.extensions["linli.settings"], provider=payment_flows.provider())


def test_runs_of_one_date_at_once_are_one_run(app, books, wechatpay, day):
    books.pay(books.order())
    wechatpay.bills.gate.clear()  # the first run waits on WeChat Pay while the others arrive
    threading.Timer(1.5, wechatpay.bills.gate.set).start()

    results = run_together(4, lambda i: reconcile_now(app, day))

    reports = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, ReconciliationRunning)]
    assert (len(reports), len(refused)) == (1, 3), results
    assert reports[0]["status"] == "balanced" and reports[0]["run"]["attempts"] == 1
    assert len(wechatpay.requests_to("/v3/bill/tradebill")) == 1


def test_a_run_left_running_by_a_dead_process_is_taken_over_later(app, books, day):
    with app.app_context(), transaction() as s:
        assert service.claim(s, day=day, now=utcnow() - timedelta(hours=1)) == 1  # and then it died
    assert reconcile_now(app, day)["run"]["attempts"] == 2


def settings_env(settings) -> dict[str, str]:
    return {f"LINLI_{k.upper()}": json.dumps(v) if isinstance(v, (dict, list)) else str(v)
            for k, v in settings.model_dump(mode="json").items() if v is not None}


def test_linli_reconcile_runs_a_date_and_prints_its_report(app, admin, books, wechatpay, day):
    order = books.order()
    books.pay(order)

    result = CliRunner().invoke(main, ["reconcile", "--date", day.isoformat()],
                                env=settings_env(app.extensions["linli.settings"]))

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["status"] == "balanced" and printed["totals"]["wechat"]["payments"]["count"] == 1
    assert admin.get(f"/admin/reconciliations/{day}").get_json()["run"]["attempts"] == 1


def test_linli_reconcile_says_so_when_the_bill_is_not_ready(app, wechatpay, day):
    wechatpay.bills.not_ready[day.isoformat()] = 1
    result = CliRunner().invoke(main, ["reconcile", "--date", day.isoformat()],
                                env=settings_env(app.extensions["linli.settings"]))
    assert result.exit_code != 0 and "bill_not_ready" in result.output


class TestOnTheSandboxProvider:
    @pytest.fixture
    def settings_overrides(self):
        return {}

    def test_there_are_no_bills_but_our_books_are_checked(self, app, admin, buyer, day):
        uid = buyer.user["id"]
        with app.app_context(), transaction() as s:
            points_service.credit(s, user_id=uid, amount=40, reason="test", order_id=None)
        assert reconcile_now(app, day)["status"] == "balanced"

        with app.app_context(), transaction() as s:
            s.exec(update(PointAccount).where(PointAccount.user_id == uid).values(balance=0))
        report = reconcile_now(app, day)

        assert [(d["subject"], d["kind"], d["ref"], d["ours"], d["expected"]) for d in report["discrepancies"]] == \
            [("points_ledger", "amount_mismatch", f"user:{uid}", 0, 40)]
