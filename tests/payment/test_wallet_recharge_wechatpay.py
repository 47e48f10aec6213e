"""A wallet recharge paid through WeChat Pay: the prepay names the recharge's out_trade_no, the
notification credits the wallet once however often it comes, and a refund of the recharge goes
to WeChat Pay for the pay_amount alone (the bonus is never refunded as cash)."""
from __future__ import annotations

import pytest
from sqlmodel import select

from app.db import transaction
from app.payment.providers import recharge_trade_no
from app.shipping.models import VIRTUAL_GOODS, ShippingSync
from tests.payment.helpers import notify


@pytest.fixture
def settings_overrides(wechatpay):
    return wechatpay.settings()


def test_a_recharge_notification_credits_the_wallet_once_and_its_refund_asks_for_the_pay_amount(
        client, admin, buyer, wechatpay, drain):
    package = admin.post("/admin/recharge-packages", json={"name": "充100送10", "pay_amount": 10000,
                                                           "bonus_amount": 1000}).get_json()
    r = buyer.post("/me/wallet/recharges", json={"package_id": package["id"]})
    assert r.status_code == 201, r.get_json()
    recharge = r.get_json()["recharge"]
    assert recharge["status"] == "pending_payment" and r.get_json()["payment"]["provider"] == "wechatpay"
    [prepay] = wechatpay.requests_to("/v3/pay/transactions/jsapi")
    assert prepay.body["out_trade_no"] == recharge_trade_no(recharge["id"])
    assert buyer.get("/me/wallet").get_json()["balance"] == 0
    headers, body = wechatpay.notification(out_trade_no=recharge_trade_no(recharge["id"]), amount=10000,
                                           transaction_id="4200000000000000000000000001")
    for _ in range(3):  # WeChat Pay repeats notifications
        assert notify(client, headers, body).status_code == 204
    w = buyer.get("/me/wallet").get_json()
    assert (w["principal"], w["bonus"]) == (10000, 1000)
    with client.application.app_context(), transaction() as s:  # reported to WeChat as virtual goods, once
        syncs = list(s.exec(select(ShippingSync)))
    assert [(x.ref, x.logistics_type, x.out_trade_no, x.order_id) for x in syncs] == [
        (f"recharge:{recharge['id']}", VIRTUAL_GOODS, recharge_trade_no(recharge["id"]), None)]
    assert [e["kind"] for e in buyer.get("/me/wallet/entries").get_json()["items"]] == ["recharge"]
    # A second transaction for the same recharge is money it cannot take: refunded in full.
    headers, body = wechatpay.notification(out_trade_no=recharge_trade_no(recharge["id"]), amount=10000,
                                           transaction_id="4200000000000000000000000002")
    assert notify(client, headers, body).status_code == 204
    assert buyer.get("/me/wallet").get_json()["balance"] == 11000
    r = admin.post(f"/admin/wallet-recharges/{recharge['id']}/refund")
    assert r.status_code == 200, r.get_json()
    drain()
    refunds = wechatpay.requests_to("/v3/refund/domestic/refunds")
    assert sorted(x.body["amount"]["refund"] for x in refunds) == [10000, 10000]
    assert all(x.body["amount"]["total"] == 10000 for x in refunds)
    assert buyer.get("/me/wallet").get_json()["balance"] == 0
