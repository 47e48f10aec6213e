"""Leaders' withdrawals paid through WeChat Pay's merchant transfer, reconciled: the transfer the
fake made for a withdrawal is in its fund-flow bill, the earnings domain reports the paid
withdrawal through TRANSFER_SOURCES (as app/wiring.py plugs it in), and the two agree; a transfer
WeChat Pay made that linli never asked for is reported, and nothing is corrected."""
from __future__ import annotations

from app.reconcile import jobs
from app.reconcile.sources import TRANSFER_SOURCES
from tests.earnings.helpers import balances, earn, withdrawal
from tests.reconcile.conftest import CST

NOTIFY = "/api/v1/payments/wechatpay/transfer-notify"


def paid_withdrawal(app, client, leader, admin, wechatpay, amount=600) -> dict:
    api, approved = leader
    earn(app, approved["leader_id"], 1000)
    w = api.post("/leader/withdrawals", json={"amount": amount}).get_json()
    assert admin.post(f"/admin/withdrawals/{w['id']}/approve").status_code == 200
    wechatpay.transfers.set_state(w["out_bill_no"], "SUCCESS")  # the leader confirmed it
    headers, body = wechatpay.transfers.notification(w["out_bill_no"])
    assert client.post(NOTIFY, data=body.encode(), headers=headers).status_code == 204
    return w


def test_a_paid_withdrawal_agrees_with_its_transfer_and_an_unknown_transfer_is_reported(app, client, leader, admin,
                                                                                          wechatpay):
    assert TRANSFER_SOURCES, "the earnings domain's paid withdrawals are wired in"
    w = paid_withdrawal(app, client, leader, admin, wechatpay)
    failed = leader[0].post("/leader/withdrawals", json={"amount": 100}).get_json()
    admin.post(f"/admin/withdrawals/{failed['id']}/approve")
    wechatpay.transfers.set_state(failed["out_bill_no"], "FAIL")  # nothing left the account
    wechatpay.transfers.record_transfer("LW000000009999", 100, state="SUCCESS")  # made by hand, unknown to us
    day = withdrawal(app, w["id"]).finished_at.astimezone(CST).date()

    with app.app_context():
        assert jobs.reconcile_job(day.isoformat())["status"] == "discrepancies"
    body = admin.get(f"/admin/reconciliations/{day}").get_json()

    assert [(d["subject"], d["kind"], d["ref"], d["ours"], d["wechat"]) for d in body["discrepancies"]] == [
        ("transfer", "missing_ours", "LW000000009999", None, 100)]
    assert body["totals"]["ours"]["transfers"] == {"count": 1, "amount": 600}
    assert body["totals"]["wechat"]["transfers"] == {"count": 2, "amount": 700}
    assert balances(app, leader[1]["leader_id"]) == (300, 100, 600)  # reported, not touched
