"""Withdrawals paid through WeChat Pay's merchant transfer, end to end against the fake WeChat Pay
(requests signed and checked, answers signed and verified, notifications signed and encrypted):
the bill's fields for scene 1005, the states, the notification, and never two bills for one
withdrawal whatever times out, fails or arrives in which order."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.db import transaction, utcnow
from app.earnings import flows
from app.earnings import jobs as earnings_jobs
from app.earnings.models import Withdrawal
from tests.concurrency import run_together
from tests.earnings.helpers import balances, discrepancies, earn, entries, withdrawal

BILLS = "/v3/fund-app/mch-transfer/transfer-bills"
NOTIFY = "/api/v1/payments/wechatpay/transfer-notify"


@pytest.fixture
def settings_overrides(wechatpay):
    return dict(wechatpay.settings(), wechat_timeout_s=1.0,
                transfer_notify_url="https://linli.example/api/v1/payments/wechatpay/transfer-notify")


def requested(app, leader, amount=600, balance=1000) -> tuple[dict, int]:
    api, approved = leader
    earn(app, approved["leader_id"], balance)
    r = api.post("/leader/withdrawals", json={"amount": amount})
    assert r.status_code == 201, r.get_json()
    return r.get_json(), approved["leader_id"]


def notify(client, wechatpay, out_bill_no, **kw):
    headers, body = wechatpay.transfers.notification(out_bill_no, **kw)
    return client.post(NOTIFY, data=body.encode(), headers=headers)


def posts(wechatpay):
    return wechatpay.requests_to(BILLS)


def test_approving_asks_for_a_scene_1005_bill_and_the_leader_gets_its_package_info(app, client, leader, admin,
                                                                                  wechatpay):
    w, lid = requested(app, leader)

    r = admin.post(f"/admin/withdrawals/{w['id']}/approve", json={})

    body = r.get_json()
    assert r.status_code == 200, body
    assert wechatpay.rejected == []
    [sent] = posts(wechatpay)
    assert sent.body["out_bill_no"] == w["out_bill_no"] == f"LW{w['id']:012d}"
    assert sent.body["transfer_scene_id"] == "1005"
    assert sent.body["transfer_amount"] == 600 and sent.body["appid"] == wechatpay.appid
    assert sent.body["openid"].startswith("leader-")  # the leader's own openid (dev login's)
    assert sent.body["user_recv_perception"] == "劳务报酬"
    assert {i["info_type"] for i in sent.body["transfer_scene_report_infos"]} == {"岗位类型", "报酬说明"}
    assert sent.body["notify_url"] == "https://linli.example/api/v1/payments/wechatpay/transfer-notify"
    assert "user_name" not in sent.body  # only from 2,000 yuan
    assert body["status"] == "awaiting_confirmation"
    assert body["package_info"] and body["mch_id"] == wechatpay.mchid and body["app_id"] == wechatpay.appid
    mine = leader[0].get(f"/leader/withdrawals/{w['id']}").get_json()
    assert mine["package_info"] == body["package_info"]
    assert balances(app, lid) == (400, 600, 0)


def test_a_success_notification_pays_the_withdrawal_once(app, client, leader, admin, wechatpay):
    w, lid = requested(app, leader)
    admin.post(f"/admin/withdrawals/{w['id']}/approve")
    wechatpay.transfers.set_state(w["out_bill_no"], "SUCCESS")

    first = notify(client, wechatpay, w["out_bill_no"])
    again = notify(client, wechatpay, w["out_bill_no"])

    assert first.status_code == again.status_code == 204
    assert leader[0].get(f"/leader/withdrawals/{w['id']}").get_json()["status"] == "paid"
    assert balances(app, lid) == (400, 0, 600)
    assert discrepancies(app) == []


def test_a_large_withdrawal_sends_the_payees_name_encrypted(app, client, leader, admin, wechatpay):
    w, _ = requested(app, leader, amount=200_000, balance=300_000)

    admin.post(f"/admin/withdrawals/{w['id']}/approve")

    [sent] = posts(wechatpay)
    assert sent.body["user_name"] != leader[0].user["nickname"]  # ciphertext, not the name
    assert sent.headers["Wechatpay-Serial"] == wechatpay.public_key_id
    assert wechatpay.transfers.bills[w["out_bill_no"]]["user_name"].startswith("团长")
    assert withdrawal(app, w["id"]).status == "awaiting_confirmation"


def test_a_transfer_whose_answer_timed_out_is_looked_up_and_paid_once(app, client, leader, admin, wechatpay):
    w, lid = requested(app, leader)
    wechatpay.transfers.timeout_after_create = 1.5  # the bill is made; its answer comes too late

    r = admin.post(f"/admin/withdrawals/{w['id']}/approve")

    assert r.status_code == 200 and r.get_json()["status"] == "approved"  # outcome unknown
    assert withdrawal(app, w["id"]).requested_at is not None
    wechatpay.transfers.timeout_after_create = None

    # the job's retry (and the sweep) look the bill up instead of asking again
    with app.app_context():
        assert earnings_jobs.transfer_withdrawal_job(w["id"]) == "awaiting_confirmation"
        flows.sweep(quiet_for=timedelta(0))

    assert len(posts(wechatpay)) == 1 and wechatpay.transfers.created == 1
    lookups = wechatpay.requests_to(f"{BILLS}/out-bill-no/{w['out_bill_no']}")
    assert len(lookups) == 2
    wechatpay.transfers.set_state(w["out_bill_no"], "SUCCESS")
    assert notify(client, wechatpay, w["out_bill_no"]).status_code == 204
    assert withdrawal(app, w["id"]).status == "paid"
    assert balances(app, lid) == (400, 0, 600)


def test_a_request_that_never_made_a_bill_is_sent_again_only_after_a_look_up_finds_none(app, client, leader,
                                                                                       admin, wechatpay):
    w, _ = requested(app, leader)
    wechatpay.fail_with = 500

    admin.post(f"/admin/withdrawals/{w['id']}/approve")

    assert withdrawal(app, w["id"]).status == "approved"
    wechatpay.fail_with = None
    with app.app_context():
        flows.sweep(quiet_for=timedelta(0))

    trail = [(r.method, r.path) for r in wechatpay.received]
    assert trail == [("POST", BILLS), ("GET", f"{BILLS}/out-bill-no/{w['out_bill_no']}"), ("POST", BILLS)]
    assert withdrawal(app, w["id"]).status == "awaiting_confirmation"
    assert wechatpay.transfers.created == 1


def test_a_failed_bill_returns_the_amount_once_by_notification_and_look_up(app, client, leader, admin, wechatpay):
    w, lid = requested(app, leader)
    admin.post(f"/admin/withdrawals/{w['id']}/approve")
    wechatpay.transfers.set_state(w["out_bill_no"], "FAIL", fail_reason="PAYEE_ACCOUNT_ABNORMAL")

    assert notify(client, wechatpay, w["out_bill_no"]).status_code == 204
    with app.app_context():
        flows.check(w["id"])
    assert admin.post(f"/admin/withdrawals/{w['id']}/check").get_json()["status"] == "failed"
    assert notify(client, wechatpay, w["out_bill_no"]).status_code == 204

    got = leader[0].get(f"/leader/withdrawals/{w['id']}").get_json()
    assert (got["status"], got["fail_reason"]) == ("failed", "PAYEE_ACCOUNT_ABNORMAL")
    assert balances(app, lid) == (1000, 0, 0)
    assert [k for k, _, _ in entries(app, lid)] == ["commission", "withdrawal", "withdrawal_returned"]
    assert discrepancies(app) == []


@pytest.mark.parametrize("final", ["FAIL", "CANCELLED"])
def test_notifications_and_look_ups_racing_return_the_amount_once(app, client, leader, admin, wechatpay, final):
    """Real threads: four notifications and four look-ups of one finished bill at once. On
    PostgreSQL they race for the withdrawal's row; its conditional status change lets one through."""
    w, lid = requested(app, leader)
    admin.post(f"/admin/withdrawals/{w['id']}/approve")
    wechatpay.transfers.set_state(w["out_bill_no"], final)
    lock = threading.Lock()

    def one(i):
        if i % 2:
            with app.app_context():
                return flows.check(w["id"]).status
        headers, body = wechatpay.transfers.notification(w["out_bill_no"])
        with lock:  # Flask's test client is not made for threads; its own request runs unlocked below
            c = app.test_client()
        return c.post(NOTIFY, data=body.encode(), headers=headers).status_code

    results = run_together(8, one)

    assert all(not isinstance(r, Exception) for r in results), results
    assert withdrawal(app, w["id"]).status == "failed"
    assert balances(app, lid) == (1000, 0, 0)
    assert [k for k, _, _ in entries(app, lid)] == ["commission", "withdrawal", "withdrawal_returned"]


def test_a_bill_left_unconfirmed_past_the_ttl_is_cancelled_and_returned(app, client, leader, admin, wechatpay):
    w, lid = requested(app, leader)
    admin.post(f"/admin/withdrawals/{w['id']}/approve")
    with app.app_context(), transaction() as s:
        s.exec(update(Withdrawal).where(Withdrawal.id == w["id"])
               .values(bill_created_at=utcnow() - timedelta(hours=25)))

    with app.app_context():
        assert earnings_jobs.sweep_transfers_job()["failed"] == 1

    assert wechatpay.requests_to(f"{BILLS}/out-bill-no/{w['out_bill_no']}/cancel")
    assert wechatpay.transfers.bills[w["out_bill_no"]]["state"] == "CANCELLED"
    got = withdrawal(app, w["id"])
    assert (got.status, got.fail_reason) == ("failed", "CANCELLED")
    assert balances(app, lid) == (1000, 0, 0)


def test_a_refused_transfer_fails_and_returns_the_amount(app, client, leader, admin, wechatpay):
    w, lid = requested(app, leader)
    wechatpay.transfers.reject_with = "INVALID_REQUEST"

    r = admin.post(f"/admin/withdrawals/{w['id']}/approve")

    assert r.get_json()["status"] == "failed" and r.get_json()["fail_reason"].startswith("INVALID_REQUEST")
    assert balances(app, lid) == (1000, 0, 0)


def test_untrusted_or_unknown_notifications_are_refused(app, client, leader, admin, wechatpay):
    w, lid = requested(app, leader)
    admin.post(f"/admin/withdrawals/{w['id']}/approve")
    wechatpay.transfers.set_state(w["out_bill_no"], "SUCCESS")
    headers, body = wechatpay.transfers.notification(w["out_bill_no"])
    forged = body.replace('"商家转账单据终态通知"', '"x"')
    wechatpay.transfers.record_transfer("LW000000009999", 100, state="SUCCESS")

    bad_signature = client.post(NOTIFY, data=forged.encode(), headers=headers)
    unknown = notify(client, wechatpay, "LW000000009999")

    assert bad_signature.status_code == 401 and bad_signature.get_json()["code"] == "signature_invalid"
    assert unknown.status_code == 400 and unknown.get_json()["code"] == "unknown_bill"
    assert withdrawal(app, w["id"]).status == "awaiting_confirmation"
    assert balances(app, lid) == (400, 600, 0)


def test_the_record_transfer_seam_lists_every_bill(app, leader, admin, wechatpay):
    seen = []
    wechatpay.transfers.listeners.append(seen.append)
    try:
        w, _ = requested(app, leader)
        admin.post(f"/admin/withdrawals/{w['id']}/approve")
    finally:
        wechatpay.transfers.listeners.remove(seen.append)
    [bill] = wechatpay.transfers.list_transfers()
    assert (bill["out_bill_no"], bill["transfer_amount"], bill["state"]) == (w["out_bill_no"], 600,
                                                                             "WAIT_USER_CONFIRM")
    assert [b["out_bill_no"] for b in seen] == [w["out_bill_no"]]
