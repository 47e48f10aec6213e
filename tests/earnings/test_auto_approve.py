"""A withdrawal below LINLI_WITHDRAW_AUTO_APPROVE skips the review: the transfer job, enqueued
after the request commits (on the real Redis), asks the fake WeChat Pay for the bill. The job is
run here as the worker runs it (the `drain` fixture's worker takes a minute to stop its pubsub
thread on this Redis client, which would make these tests slow for nothing)."""
from __future__ import annotations

import pytest
from rq import Queue

from app.earnings import jobs
from tests.earnings.helpers import balances, earn, withdrawal

BILLS = "/v3/fund-app/mch-transfer/transfer-bills"


@pytest.fixture
def settings_overrides(wechatpay):
    return dict(wechatpay.settings(), withdraw_auto_approve=1000, wechat_timeout_s=1.0)


def queued(app) -> list[tuple[str, tuple]]:
    queue = Queue(app.extensions["linli.settings"].queue_name, connection=app.extensions["linli.redis"])
    return [(job.func_name, job.args) for job in queue.jobs]


def run_queued(app) -> None:
    with app.app_context():
        for name, args in queued(app):
            assert name == "app.earnings.jobs.transfer_withdrawal_job"
            try:
                jobs.transfer_withdrawal_job(*args)
            except RuntimeError:
                pass  # no answer yet: RQ would retry it


def test_a_small_withdrawal_is_transferred_without_review(app, leader, wechatpay):
    api, approved = leader
    lid = approved["leader_id"]
    earn(app, lid, 5000)

    small = api.post("/leader/withdrawals", json={"amount": 999}).get_json()
    big = api.post("/leader/withdrawals", json={"amount": 1000}).get_json()
    assert queued(app) == [("app.earnings.jobs.transfer_withdrawal_job", (small["id"],))]
    run_queued(app)

    assert (small["status"], big["status"]) == ("approved", "reviewing")
    assert withdrawal(app, small["id"]).status == "awaiting_confirmation"
    assert [r.body["out_bill_no"] for r in wechatpay.requests_to(BILLS)] == [small["out_bill_no"]]
    assert balances(app, lid) == (3001, 1999, 0)


def test_a_transfer_job_that_met_a_timeout_is_retried_as_a_look_up(app, leader, wechatpay):
    api, approved = leader
    earn(app, approved["leader_id"], 5000)
    wechatpay.transfers.timeout_after_create = 1.5

    small = api.post("/leader/withdrawals", json={"amount": 500}).get_json()
    run_queued(app)  # the job meets the timeout and raises: RQ schedules its retry
    wechatpay.transfers.timeout_after_create = None

    assert withdrawal(app, small["id"]).status == "approved"
    with app.app_context():
        assert jobs.transfer_withdrawal_job(small["id"]) == "awaiting_confirmation"  # what the retry runs
    assert len(wechatpay.requests_to(BILLS)) == 1 and wechatpay.transfers.created == 1
