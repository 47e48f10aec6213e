"""A bill date's reconciliation against the local fake WeChat Pay, on both databases: the bills it
serves are built from what it processed (payments it notified, refunds it was asked for, transfers
it made), a test changes what they say, and the run must report exactly what was planted."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from app.db import transaction
from app.payment.providers import out_trade_no
from app.points import service as points_service
from app.points.models import PointAccount
from app.reconcile import jobs
from app.reconcile.models import ReconcileDiscrepancy
from app.reconcile.service import day_bounds
from tests.payment.helpers import notify
from tests.reconcile.conftest import at


def run(app, day) -> dict:
    with app.app_context():
        return jobs.reconcile_job(day.isoformat())


def found(report: dict) -> set[tuple]:
    return {(d["subject"], d["kind"], d["ref"], d["ours"], d["wechat"]) for d in report["discrepancies"]}


def test_a_day_where_everything_agrees_is_balanced(app, admin, books, wechatpay, transfers, day):
    order = books.order()
    books.pay(order)
    refund = books.refund(order, 500)
    transfers.append(("WD0000000001", 800, "SUCCESS"))
    wechatpay.bills.record_transfer("WD0000000001", 800, at=at(day, 15))

    assert run(app, day) == {"date": day.isoformat(), "status": "balanced", "discrepancies": 0}
    report = admin.get(f"/admin/reconciliations/{day}").get_json()

    assert report["status"] == "balanced" and report["discrepancies"] == []
    assert report["run"]["state"] == "done" and report["run"]["attempts"] == 1
    one = {"count": 1, "amount": order["total"]}
    assert report["totals"]["ours"] == {"payments": one, "refunds": {"count": 1, "amount": refund.amount},
                                        "transfers": {"count": 1, "amount": 800}}
    assert {k: report["totals"]["wechat"][k] for k in ("payments", "refunds", "transfers")} == \
        report["totals"]["ours"]
    # The transfer source was asked for exactly WeChat Pay's day (Beijing midnight to midnight).
    assert transfers.asked == [day_bounds(day)]
    # Both bills were applied for and downloaded with the merchant's signature, gzipped.
    assert wechatpay.rejected == []
    [trade] = wechatpay.requests_to("/v3/bill/tradebill")
    assert trade.headers["Authorization"].startswith("WECHATPAY2-SHA256-RSA2048 ")
    assert len(wechatpay.requests_to("/v3/bill/fundflowbill")) == 1
    assert len(wechatpay.requests_to("/v3/billdownload/file")) == 2


def test_a_bill_with_every_kind_of_discrepancy_is_reported_exactly(app, admin, buyer, books, wechatpay, transfers,
                                                                   day):
    # Payments: one agrees, one WeChat Pay took another amount for, one it has no trace of, and
    # one it took whose notification never reached us.
    o1, o2, o3, o4, o5 = (books.order() for _ in range(5))
    for o in (o1, o2, o3, o5):
        books.pay(o)
    books.pay(o4, deliver=False)
    wechatpay.bills.change(out_trade_no(o2["id"]), 1000)
    wechatpay.bills.hide(out_trade_no(o3["id"]))
    # Refunds: one agrees, one of another amount, one the bill lacks, and one an operator made
    # by hand in the merchant platform.
    books.refund(o1, 500)
    r2 = books.refund(o1, 600)
    r3 = books.refund(o5, 700)
    wechatpay.bills.change(r2.out_refund_no, 60)
    wechatpay.bills.hide(r3.out_refund_no)
    o5_txn = next(t for t, p in wechatpay.bills.payments.items() if p["out_trade_no"] == out_trade_no(o5["id"]))
    wechatpay.bills.refund_by_hand(out_refund_no="HAND00000001", transaction_id=o5_txn,
                                   out_trade_no=out_trade_no(o5["id"]), amount=300, total=o5["total"],
                                   at=at(day, 12))
    # Transfers: one agrees, one of another amount, one WeChat Pay never made, one we do not know
    # of; a failed one of ours is in neither (nothing left the account).
    transfers.extend([("WD1", 500, "SUCCESS"), ("WD2", 700, "SUCCESS"), ("WD3", 300, "SUCCESS"), ("WD4", 200, "FAIL")])
    wechatpay.bills.record_transfer("WD1", 500, at=at(day, 13))
    wechatpay.bills.record_transfer("WD2", 700, at=at(day, 13))
    wechatpay.bills.change("WD2", 800)
    wechatpay.bills.record_transfer("WD5", 900, at=at(day, 14))
    wechatpay.bills.record_transfer("WD4", 200, state="FAIL", at=at(day, 14))
    # Our own books: a points balance its entries do not add up to.
    uid = buyer.user["id"]
    with app.app_context(), transaction() as s:
        points_service.credit(s, user_id=uid, amount=100, reason="test", order_id=None)
        s.exec(update(PointAccount).where(PointAccount.user_id == uid).values(balance=105))

    report = run(app, day)

    assert report == {"date": day.isoformat(), "status": "discrepancies", "discrepancies": 10}
    body = admin.get(f"/admin/reconciliations/{day}").get_json()
    total = o1["total"]
    assert found(body) == {
        ("payment", "amount_mismatch", out_trade_no(o2["id"]), total, 1000),
        ("payment", "missing_wechat", out_trade_no(o3["id"]), total, None),
        ("payment", "missing_ours", out_trade_no(o4["id"]), None, total),
        ("refund", "amount_mismatch", r2.out_refund_no, 600, 60),
        ("refund", "missing_wechat", r3.out_refund_no, 700, None),
        ("refund", "missing_ours", "HAND00000001", None, 300),
        ("transfer", "amount_mismatch", "WD2", 700, 800),
        ("transfer", "missing_wechat", "WD3", 300, None),
        ("transfer", "missing_ours", "WD5", None, 900),
        ("points_ledger", "amount_mismatch", f"user:{uid}", 105, None),
    }
    [ledger] = [d for d in body["discrepancies"] if d["subject"] == "points_ledger"]
    assert ledger["expected"] == 100
    assert body["totals"]["ours"]["payments"] == {"count": 4, "amount": 4 * total}
    assert body["totals"]["wechat"]["payments"] == {"count": 4, "amount": 3 * total + 1000}
    assert body["totals"]["wechat"]["refunds"] == {"count": 3, "amount": 500 + 60 + 300}
    # Reported, never fixed: the balance is still what it was.
    with app.app_context(), transaction() as s:
        assert points_service.balance_of(s, user_id=uid) == 105


def test_running_a_date_again_replaces_its_findings(app, admin, books, wechatpay, day):
    order = books.order()
    books.pay(order)
    wechatpay.bills.change(out_trade_no(order["id"]), 1)
    assert run(app, day)["status"] == "discrepancies"

    wechatpay.bills.changed.clear()
    assert run(app, day)["status"] == "balanced"

    body = admin.get(f"/admin/reconciliations/{day}").get_json()
    assert (body["status"], body["discrepancies"], body["run"]["attempts"]) == ("balanced", [], 2)
    with Session(app.extensions["linli.engine"]) as s:
        assert s.exec(select(ReconcileDiscrepancy)).all() == []


def test_a_payment_recorded_on_the_next_day_is_not_missing_on_either(app, books, wechatpay, day):
    """WeChat Pay's 23:59:59 payment whose notification we record after midnight: it is in the
    bill of its success_time's day, and that is the day we count it on."""
    order = books.order()
    headers, body = wechatpay.notification(out_trade_no=out_trade_no(order["id"]), amount=order["total"],
                                           success_time=at(day, 23, 59) + timedelta(seconds=59))
    assert notify(books.client, headers, body).status_code == 204

    assert run(app, day)["status"] == "balanced"
    assert run(app, day + timedelta(days=1))["status"] == "balanced"


def test_a_date_never_run_is_not_run(admin, day):
    body = admin.get(f"/admin/reconciliations/{day - timedelta(days=30)}").get_json()
    assert body == {"date": (day - timedelta(days=30)).isoformat(), "status": "not_run", "run": None,
                    "totals": {"ours": {}, "wechat": {}}, "discrepancies": []}


def test_a_date_that_is_not_one_is_refused(admin):
    for bad in ("2026-13-01", "20261201", "yesterday"):
        r = admin.get(f"/admin/reconciliations/{bad}")
        assert (r.status_code, r.get_json()["code"]) == (422, "validation_error"), bad


def test_only_an_admin_reads_a_reconciliation(buyer, leader, client, day):
    leader_api, _ = leader
    assert buyer.get(f"/admin/reconciliations/{day}").status_code == 403
    assert leader_api.get(f"/admin/reconciliations/{day}").status_code == 403
    assert client.get(f"/api/v1/admin/reconciliations/{day}").status_code == 401


def test_a_day_without_any_bill_is_balanced(app, wechatpay, day):
    """NO_STATEMENT_EXIST is WeChat Pay's answer for a day where nothing happened: nothing to match."""
    assert run(app, day - timedelta(days=3))["status"] == "balanced"
    assert len(wechatpay.requests_to("/v3/bill/tradebill")) == 1
    assert wechatpay.requests_to("/v3/billdownload/file") == []
