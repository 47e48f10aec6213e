"""Refunds are durable and race-free: partial refunds that never add up past the payment, a refund
job that calls WeChat Pay outside any transaction and never overwrites what a notification said,
a sweep that re-drives lost jobs and asks WeChat Pay about refunds it went quiet on, and the
operators' list and retry. Against the local fake WeChat Pay; the races use real threads, and run
on both databases (on SQLite writers take turns, so there the race is a queue; PostgreSQL is the
real test)."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import update
from sqlmodel import Session, select

from app.db import transaction, utcnow
from app.payment import service as payment_service
from app.payment.errors import NothingToRefund, RefundExceedsPayment
from app.payment.jobs import redrive_refunds_job, refund_job
from app.payment.models import Payment, Refund
from app.payment.providers import out_trade_no
from app.payment.wechatpay import WechatPayProvider
from tests.concurrency import run_together
from tests.payment.helpers import (notify, order_status, paid_notification, payment_by_id, place_order, refund_by_id,
                                   refunds_of)


@pytest.fixture
def settings_overrides(wechatpay):
    return wechatpay.settings()


@pytest.fixture
def paid(app, client, buyer, leader, product, wechatpay):
    """An order of 2 × 19.90 = 39.80 yuan, paid through WeChat Pay."""
    order = place_order(buyer, leader, product, qty=2)
    assert notify(client, *paid_notification(wechatpay, order)).status_code == 204
    assert order["total"] == 3980
    return order


def refund_part(app, order_id: int, amount: int, ref: str | None = None) -> Refund:
    with app.app_context(), transaction() as s:
        return payment_service.refund_amount(s, order_id=order_id, amount=amount, reason="shortage",
                                             idempotency_ref=ref)


def the_payment(app, order_id: int) -> Payment:
    with Session(app.extensions["linli.engine"]) as s:
        return s.exec(select(Payment).where(Payment.order_id == order_id)).one()


def set_refund(app, refund_id: int, **values) -> None:
    with app.app_context(), transaction() as s:
        s.exec(update(Refund).where(Refund.id == refund_id).values(**values))


def sweep(app, **kw) -> dict:
    with app.app_context():
        return redrive_refunds_job(**kw)




# ---- partial refunds ----------------------------------------------------------------------------

def test_a_partial_refund_gives_back_part_of_the_payment_and_leaves_the_order_as_it_is(app, paid, wechatpay,
                                                                                       drain):
    refund = refund_part(app, paid["id"], 1990)

    assert (refund.amount, refund.total, refund.status) == (1990, 3980, "pending")
    assert order_status(app, paid["id"]) == "paid"
    assert the_payment(app, paid["id"]).refunded_amount == 1990
    drain()
    [sent] = wechatpay.requests_to("/v3/refund/domestic/refunds")
    # WeChat Pay wants the original payment as total, and this refund as refund
    assert sent.body["amount"] == {"refund": 1990, "total": 3980, "currency": "CNY"}
    assert sent.body["out_refund_no"] == refund.out_refund_no
    assert refund_by_id(app, refund.id).status == "processing"


def test_partial_refunds_add_up_to_the_payment_and_never_past_it(app, paid):
    for _ in range(3):
        refund_part(app, paid["id"], 1000)

    with pytest.raises(RefundExceedsPayment):
        refund_part(app, paid["id"], 981)
    refund_part(app, paid["id"], 980)
    with pytest.raises(RefundExceedsPayment):
        refund_part(app, paid["id"], 1)

    assert sum(r.amount for r in refunds_of(app, paid["id"])) == 3980
    assert the_payment(app, paid["id"]).refunded_amount == 3980
    assert order_status(app, paid["id"]) == "paid"


@pytest.mark.parametrize("amount", [0, -5])
def test_a_refund_of_nothing_is_refused(app, paid, amount):
    with pytest.raises(payment_service.Unprocessable):
        refund_part(app, paid["id"], amount)
    assert refunds_of(app, paid["id"]) == []


def test_an_unpaid_order_has_nothing_to_refund(app, buyer, leader, product):
    order = place_order(buyer, leader, product)
    with pytest.raises(NothingToRefund):
        refund_part(app, order["id"], 1)


def test_the_same_idempotency_ref_refunds_once(app, paid):
    first = refund_part(app, paid["id"], 500, ref="shortage-2026-11-23-sku-1")
    again = refund_part(app, paid["id"], 500, ref="shortage-2026-11-23-sku-1")
    other = refund_part(app, paid["id"], 500, ref="shortage-2026-11-23-sku-2")

    assert again.id == first.id and other.id != first.id
    assert the_payment(app, paid["id"]).refunded_amount == 1000


def test_a_full_refund_after_a_partial_one_gives_back_only_what_is_left(app, buyer, paid, wechatpay, drain):
    refund_part(app, paid["id"], 1000)

    r = buyer.post(f"/orders/{paid['id']}/cancel")

    assert r.status_code == 200 and r.get_json()["status"] == "refunded"
    assert [x.amount for x in refunds_of(app, paid["id"])] == [1000, 2980]
    assert the_payment(app, paid["id"]).refunded_amount == 3980
    drain()
    assert sorted(q.body["amount"]["refund"] for q in wechatpay.requests_to("/v3/refund/domestic/refunds")) \
        == [1000, 2980]


def test_an_order_refunded_in_parts_to_the_last_fen_is_refunded_with_no_new_refund(app, client, admin, paid):
    refund_part(app, paid["id"], 3980)

    r = admin.post(f"/admin/orders/{paid['id']}/refund", json={"reason": "after_sales"})

    assert r.status_code == 200 and r.get_json()["status"] == "refunded"
    assert [x.amount for x in refunds_of(app, paid["id"])] == [3980]


def test_concurrent_partial_refunds_never_give_back_more_than_was_paid(app, paid):
    # ten threads each try to refund 10.00 of a 39.80 payment at the same moment
    results = run_together(10, lambda i: refund_part(app, paid["id"], 1000))

    refunds = [r for r in results if isinstance(r, Refund)]
    refused = [r for r in results if isinstance(r, RefundExceedsPayment)]
    assert len(refunds) == 3 and len(refused) == 7, results
    assert sum(r.amount for r in refunds_of(app, paid["id"])) == 3000
    assert the_payment(app, paid["id"]).refunded_amount == 3000


def test_a_full_refund_racing_partial_refunds_never_gives_back_more_than_was_paid(app, buyer, paid):
    def go(i):
        if i == 0:
            return app.test_client().post(
                f"/api/v1/orders/{paid['id']}/cancel", headers=buyer.headers).status_code
        return refund_part(app, paid["id"], 700)

    results = run_together(6, go)

    assert not [r for r in results if isinstance(r, Exception)
                and not isinstance(r, RefundExceedsPayment)], results
    assert results[0] == 200
    amounts = [r.amount for r in refunds_of(app, paid["id"])]
    assert sum(amounts) == 3980 == the_payment(app, paid["id"]).refunded_amount, amounts


def test_concurrent_refunds_with_one_idempotency_ref_make_one(app, paid):
    results = run_together(8, lambda i: refund_part(app, paid["id"], 1500, ref="shortage-line-7"))

    assert all(isinstance(r, Refund) for r in results), results
    assert len({r.id for r in results}) == 1
    assert [r.amount for r in refunds_of(app, paid["id"])] == [1500]
    assert the_payment(app, paid["id"]).refunded_amount == 1500


# ---- the job and the notification --------------------------------------------------------------

def cancelled_refund(app, buyer, order) -> Refund:
    assert buyer.post(f"/orders/{order['id']}/cancel").status_code == 200
    [refund] = refunds_of(app, order["id"])
    return refund


def success_notification(wechatpay, order, refund, success_time="2026-11-22T18:30:05+08:00"):
    return wechatpay.refund_notification(out_refund_no=refund.out_refund_no, out_trade_no=out_trade_no(order["id"]),
                                         amount=refund.amount, success_time=success_time)


def test_a_refund_success_landing_while_the_job_waits_on_wechat_pay_is_never_overwritten(app, client, buyer, paid,
                                                                                         wechatpay):
    # given a refund whose job is waiting for WeChat Pay's answer (the fake holds the request; the
    # app waits up to 20 s for it, and the fake lets go after 8 s whatever happens)
    refund = cancelled_refund(app, buyer, paid)
    app.extensions["linli.payment_provider"] = WechatPayProvider(
        app.extensions["linli.settings"].model_copy(update={"wechat_timeout_s": 20.0}))
    wechatpay.refund_gate.clear()
    valve = threading.Timer(8, wechatpay.refund_gate.set)
    valve.start()
    job = threading.Thread(target=lambda: run_job(app, refund.id))
    job.start()
    assert wechatpay.refund_waiting.wait(10)

    # when WeChat Pay's REFUND.SUCCESS notification arrives meanwhile
    started = time.monotonic()
    r = notify(client, *success_notification(wechatpay, paid, refund))
    took = time.monotonic() - started

    # then it is applied at once: the job holds no transaction (no lock) while it waits
    assert r.status_code == 204 and took < 5, (r.status_code, took)
    assert refund_by_id(app, refund.id).status == "succeeded"

    # and when the job's answer ("PROCESSING") comes back afterwards, it changes nothing
    wechatpay.refund_gate.set()
    valve.cancel()
    job.join(30)
    assert [q.body["out_refund_no"] for q in wechatpay.requests_to("/v3/refund/domestic/refunds")] \
        == [refund.out_refund_no]
    done = refund_by_id(app, refund.id)
    assert done.status == "succeeded" and done.error is None and done.attempts == 1
    assert done.completed_at.isoformat() == "2026-11-22T10:30:05+00:00"


def run_job(app, refund_id: int):
    with app.app_context():
        refund_job(refund_id)


def test_concurrent_duplicate_refund_notifications_are_applied_once(app, buyer, paid, wechatpay, drain):
    refund = cancelled_refund(app, buyer, paid)
    drain()
    headers, body = success_notification(wechatpay, paid, refund)

    statuses = run_together(8, lambda i: notify(app.test_client(), headers, body).status_code)

    assert statuses == [204] * 8
    done = refund_by_id(app, refund.id)
    assert done.status == "succeeded" and done.completed_at.isoformat() == "2026-11-22T10:30:05+00:00"


def test_the_job_running_twice_asks_wechat_pay_once_per_run_and_records_each_attempt(app, buyer, paid, wechatpay,
                                                                                       drain):
    wechatpay.fail_with = 503
    refund = cancelled_refund(app, buyer, paid)

    with pytest.raises(RuntimeError):  # RQ retries it with back-off
        run_job(app, refund.id)
    with pytest.raises(RuntimeError):
        run_job(app, refund.id)

    again = refund_by_id(app, refund.id)
    assert again.status == "pending" and again.attempts == 2 and "SYSTEM_ERROR" in again.error
    wechatpay.fail_with = None
    run_job(app, refund.id)
    run_job(app, refund.id)  # no longer pending: left alone
    assert refund_by_id(app, refund.id).status == "processing"
    assert len(wechatpay.requests_to("/v3/refund/domestic/refunds")) == 3


def test_a_refund_wechat_pay_refuses_for_good_fails_at_once_for_an_operator(app, buyer, paid, wechatpay):
    wechatpay.fail_with = 400  # PARAM_ERROR: asking again cannot help

    refund = cancelled_refund(app, buyer, paid)
    run_job(app, refund.id)  # does not raise: no RQ retry

    failed = refund_by_id(app, refund.id)
    assert failed.status == "failed" and "PARAM_ERROR" in failed.error and failed.attempts == 1


def test_a_refund_that_keeps_failing_is_failed_after_its_attempts_and_an_operator_retries_it(app, admin, buyer,
                                                                                             paid, wechatpay, drain):
    # given WeChat Pay unreachable, and a refund on its last attempt
    wechatpay.fail_with = 500
    refund = cancelled_refund(app, buyer, paid)
    set_refund(app, refund.id, attempts=payment_service.MAX_REFUND_ATTEMPTS - 1)

    # when the job runs once more
    drain(include_scheduled=False)

    # then the refund is failed, with the last error, and listed for operators
    failed = refund_by_id(app, refund.id)
    assert failed.status == "failed" and "SYSTEM_ERROR" in failed.error
    listed = admin.get("/admin/refunds", query_string={"status": "failed"}).get_json()
    assert [(x["id"], x["status"], x["order_id"]) for x in listed["items"]] == [(refund.id, "failed", paid["id"])]
    assert listed["items"][0]["attempts"] == payment_service.MAX_REFUND_ATTEMPTS

    # when WeChat Pay is back and an operator retries it
    wechatpay.fail_with = None
    r = admin.post(f"/admin/refunds/{refund.id}/retry")

    # then it is pending with a fresh budget, and the job sends it (same out_refund_no)
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["status"], r.get_json()["attempts"]) == ("pending", 0)
    drain(include_scheduled=False)
    assert refund_by_id(app, refund.id).status == "processing"
    assert wechatpay.requests_to("/v3/refund/domestic/refunds")[-1].body["out_refund_no"] == refund.out_refund_no
    # and only a failed refund can be retried
    r = admin.post(f"/admin/refunds/{refund.id}/retry")
    assert r.status_code == 409 and r.get_json()["code"] == "invalid_state"


def test_retrying_a_refund_that_does_not_exist_is_a_404(admin):
    r = admin.post("/admin/refunds/424242/retry")
    assert r.status_code == 404 and r.get_json()["code"] == "refund_not_found"


def test_operators_list_refunds_newest_first_page_by_page(app, admin, paid):
    ids = [refund_part(app, paid["id"], 100).id for _ in range(3)]

    first = admin.get("/admin/refunds", query_string={"status": "pending", "limit": 2}).get_json()
    rest = admin.get("/admin/refunds", query_string={"status": "pending", "limit": 2,
                                                     "cursor": first["next_cursor"]}).get_json()

    assert [x["id"] for x in first["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None
    assert first["items"][0]["amount"] == 100 and first["items"][0]["total"] == 3980
    assert admin.get("/admin/refunds", query_string={"status": "succeeded"}).get_json()["items"] == []
    r = admin.get("/admin/refunds", query_string={"status": "lost"})
    assert r.status_code == 422


# ---- the sweep ----------------------------------------------------------------------------------

def test_the_sweep_hands_a_pending_refund_whose_job_was_lost_to_the_job_again(app, buyer, paid, wechatpay, drain):
    # given a refund whose job vanished (Redis lost it)
    refund = cancelled_refund(app, buyer, paid)
    Queue(app.extensions["linli.settings"].queue_name, connection=app.extensions["linli.redis"]).empty()

    # when the sweep runs: a fresh refund is left to its job, an old one is handed over again
    assert sweep(app)["requeued"] == 0
    set_refund(app, refund.id, updated_at=utcnow() - payment_service.REDRIVE_AFTER - timedelta(seconds=1))
    assert sweep(app)["requeued"] == 1
    drain(include_scheduled=False)

    # then WeChat Pay got it
    assert refund_by_id(app, refund.id).status == "processing"
    [sent] = wechatpay.requests_to("/v3/refund/domestic/refunds")
    assert sent.body["out_refund_no"] == refund.out_refund_no


@pytest.mark.parametrize("at_wechat,then", [("SUCCESS", "succeeded"), ("ABNORMAL", "failed"), ("CLOSED", "failed"),
                                            ("PROCESSING", "processing")])
def test_the_sweep_asks_wechat_pay_about_a_refund_stuck_in_processing(app, buyer, paid, wechatpay, drain,
                                                                      at_wechat, then):
    # given a refund WeChat Pay accepted, whose notification never came
    refund = cancelled_refund(app, buyer, paid)
    drain()
    assert refund_by_id(app, refund.id).status == "processing"
    wechatpay.set_refund_status(refund.out_refund_no, at_wechat)

    # when the sweep runs
    assert sweep(app, older_than_s=0)["checked"] == 1

    # then it asked WeChat Pay (GET /v3/refund/domestic/refunds/{out_refund_no}) and took its word
    assert len(wechatpay.requests_to(f"/v3/refund/domestic/refunds/{refund.out_refund_no}")) == 1
    assert wechatpay.rejected == []
    done = refund_by_id(app, refund.id)
    assert done.status == then
    assert (done.completed_at is not None) == (then == "succeeded")
    if then == "failed":
        assert at_wechat in done.error


def test_a_refund_wechat_pay_does_not_know_goes_back_to_pending_and_is_sent_again(app, buyer, paid, wechatpay,
                                                                                  drain):
    refund = cancelled_refund(app, buyer, paid)
    drain()
    wechatpay.forget_refund(refund.out_refund_no)

    sweep(app, older_than_s=0)
    assert refund_by_id(app, refund.id).status == "pending"
    drain(include_scheduled=False)

    assert refund_by_id(app, refund.id).status == "processing"
    assert len(wechatpay.requests_to("/v3/refund/domestic/refunds")) == 2


def test_the_sweep_answering_late_never_overwrites_a_notification(app, client, buyer, paid, wechatpay, drain):
    # given a processing refund that WeChat Pay (asked by the sweep) still calls PROCESSING,
    # while its REFUND.SUCCESS notification has landed in between
    refund = cancelled_refund(app, buyer, paid)
    drain()
    assert notify(client, *success_notification(wechatpay, paid, refund)).status_code == 204

    sweep(app, older_than_s=0)

    assert refund_by_id(app, refund.id).status == "succeeded"


def test_the_sweep_is_fine_with_nothing_to_do(app):
    assert sweep(app, older_than_s=0) == {"requeued": 0, "checked": 0}


def test_the_database_refuses_a_refunded_amount_past_the_payment(app, paid):
    # the database's own check, whatever code path writes
    payment = the_payment(app, paid["id"])
    with pytest.raises(Exception):
        with app.app_context(), transaction() as s:
            s.exec(update(Payment).where(Payment.id == payment.id).values(refunded_amount=payment.amount + 1))
    assert payment_by_id(app, payment.id).refunded_amount == 0
