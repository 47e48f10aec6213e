"""WeChat Pay v3 end to end: the app talks real HTTP to a local fake WeChat Pay (requests signed,
answers signed and verified) and receives notifications signed and encrypted as WeChat sends them."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime

import pytest

from app.payment.providers import out_trade_no
from tests.fakes.wechatpay import KeyPair, verify_signature
from tests.payment.helpers import notify, order_status, paid_notification, payments_of, place_order, refunds_of


@pytest.fixture
def settings_overrides(wechatpay):
    return wechatpay.settings()


# ---- paying -----------------------------------------------------------------------------------

def test_paying_returns_jsapi_params_whose_pay_sign_verifies_with_the_merchant_key(buyer, leader, product,
                                                                                   wechatpay):
    # given an unpaid order
    order = place_order(buyer, leader, product)

    # when the buyer starts paying
    r = buyer.post(f"/orders/{order['id']}/pay")

    # then the app asked WeChat Pay for a JSAPI prepay (a signed request the fake accepted)
    assert r.status_code == 200, r.get_json()
    assert wechatpay.rejected == []
    [prepay] = wechatpay.requests_to("/v3/pay/transactions/jsapi")
    sent = prepay.body
    assert sent["appid"] == wechatpay.appid and sent["mchid"] == wechatpay.mchid
    assert sent["out_trade_no"] == out_trade_no(order["id"])
    assert sent["amount"] == {"total": order["total"], "currency": "CNY"}
    assert sent["payer"] == {"openid": "buyer-1"}
    assert sent["notify_url"] == wechatpay.settings()["wechatpay_notify_url"]
    expire = datetime.fromisoformat(sent["time_expire"])
    assert expire.utcoffset() is not None
    assert expire == datetime.fromisoformat(order["pay_before"]).replace(microsecond=0)
    # and answered with what wx.requestPayment takes, signed with the merchant key
    body = r.get_json()
    assert body["payment"]["provider"] == "wechatpay"
    params = body["payment"]["params"]
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["appId"] == wechatpay.appid and params["signType"] == "RSA"
    assert params["package"].startswith("prepay_id=wx")
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    assert verify_signature(wechatpay.merchant.public_key, message, params["paySign"])
    assert not verify_signature(wechatpay.platform.public_key, message, params["paySign"])
    # and the order waits for the notification
    assert body["order"]["status"] == "pending_payment" and body["order"].get("pickup_code") is None


def test_paying_while_wechat_pay_is_down_answers_503_and_the_order_stays_payable(buyer, leader, product,
                                                                                   wechatpay):
    # given an unpaid order and WeChat Pay answering 500
    order = place_order(buyer, leader, product)
    wechatpay.fail_with = 500

    # when the buyer starts paying
    r = buyer.post(f"/orders/{order['id']}/pay")

    # then the answer is a problem, not a crash, and a later try succeeds
    assert r.status_code == 503 and r.get_json()["code"] == "payment_provider_unavailable"
    wechatpay.fail_with = None
    assert buyer.post(f"/orders/{order['id']}/pay").status_code == 200


def test_paying_when_wechat_pay_refuses_the_request_answers_502_with_its_code(buyer, leader, product, wechatpay):
    order = place_order(buyer, leader, product)
    wechatpay.fail_with = 400

    r = buyer.post(f"/orders/{order['id']}/pay")

    assert r.status_code == 502, r.get_json()
    assert r.get_json()["code"] == "payment_provider_rejected"
    assert r.get_json()["provider_code"] == "PARAM_ERROR"


def test_paying_with_a_wechat_pay_answer_that_is_not_signed_by_it_answers_503(app, buyer, leader, product,
                                                                              wechatpay):
    # given WeChat Pay's answers are signed by a key that is not the configured public key
    order = place_order(buyer, leader, product)
    real = wechatpay.platform
    wechatpay.platform = KeyPair.generate()
    try:
        r = buyer.post(f"/orders/{order['id']}/pay")
    finally:
        wechatpay.platform = real

    # then the answer is not trusted
    assert r.status_code == 503 and r.get_json()["code"] == "payment_provider_unavailable"


# ---- notifications ----------------------------------------------------------------------------

def test_a_valid_notification_marks_the_order_paid_with_a_pickup_code(app, client, buyer, leader, product,
                                                                        wechatpay):
    # given an order the buyer started paying
    order = place_order(buyer, leader, product)
    assert buyer.post(f"/orders/{order['id']}/pay").status_code == 200

    # when WeChat Pay notifies the payment
    headers, body = paid_notification(wechatpay, order, transaction_id="4200000001202401010000000001")
    r = notify(client, headers, body)

    # then it is acknowledged and the order is paid, with a pickup code
    assert r.status_code == 204, r.get_data(as_text=True)
    got = buyer.get(f"/orders/{order['id']}").get_json()
    assert got["status"] == "paid"
    assert len(got["pickup_code"]) == 6 and got["pickup_code"].isdigit()
    [payment] = payments_of(app, order["id"])
    assert payment.provider == "wechatpay" and payment.transaction_id == "4200000001202401010000000001"
    assert payment.amount == order["total"] and payment.status == "applied"
    assert payment.payload["out_trade_no"] == out_trade_no(order["id"])


def test_the_same_notification_replayed_has_no_second_effect(app, client, buyer, leader, product, wechatpay):
    # given a notification that was applied
    order = place_order(buyer, leader, product)
    headers, body = paid_notification(wechatpay, order)
    assert notify(client, headers, body).status_code == 204
    first = buyer.get(f"/orders/{order['id']}").get_json()

    # when WeChat Pay sends it again (it retries until it hears success), twice
    replies = [notify(client, headers, body) for _ in range(2)]

    # then each is acknowledged and nothing changes
    assert [r.status_code for r in replies] == [204, 204]
    assert len(payments_of(app, order["id"])) == 1
    assert buyer.get(f"/orders/{order['id']}").get_json() == first


def test_a_tampered_notification_is_rejected_as_signature_invalid_and_the_order_stays_unpaid(
        app, client, buyer, leader, product, wechatpay):
    # given a signed notification whose body is changed afterwards
    order = place_order(buyer, leader, product)
    headers, body = paid_notification(wechatpay, order)
    envelope = json.loads(body)
    envelope["summary"] = "tampered"
    tampered = json.dumps(envelope, ensure_ascii=False)

    # when it arrives
    r = notify(client, headers, tampered)

    # then it is refused, in the shape WeChat Pay reads, and nothing happens
    assert r.status_code == 401
    problem = r.get_json()
    assert problem["code"] == "signature_invalid" and problem["message"]
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert order_status(app, order["id"]) == "pending_payment"
    assert payments_of(app, order["id"]) == []


@pytest.mark.parametrize("how", ["other key, same serial", "unknown serial", "no signature headers"])
def test_a_notification_not_signed_with_the_wechat_pay_public_key_is_rejected(app, client, buyer, leader, product,
                                                                             wechatpay, how):
    order = place_order(buyer, leader, product)
    if how == "other key, same serial":
        headers, body = paid_notification(wechatpay, order, signing_key=KeyPair.generate())
    elif how == "unknown serial":
        headers, body = paid_notification(wechatpay, order, serial="PUB_KEY_ID_SOMEONE_ELSE")
    else:
        headers, body = paid_notification(wechatpay, order)
        headers = {"Content-Type": "application/json"}

    r = notify(client, headers, body)

    assert r.status_code == 401 and r.get_json()["code"] == "signature_invalid"
    assert order_status(app, order["id"]) == "pending_payment"


@pytest.mark.parametrize("offset_s", [-301, +301])
def test_a_notification_stamped_more_than_300_seconds_away_is_rejected_as_stale(app, client, buyer, leader,
                                                                               product, wechatpay, offset_s):
    # given a correctly signed notification stamped 301 s in the past (a captured replay) or future
    order = place_order(buyer, leader, product)
    headers, body = paid_notification(wechatpay, order, timestamp=int(time.time()) + offset_s)

    # when it arrives
    r = notify(client, headers, body)

    # then it is refused and the order is not paid
    assert r.status_code == 401 and r.get_json()["code"] == "notification_stale"
    assert order_status(app, order["id"]) == "pending_payment"
    assert payments_of(app, order["id"]) == []


def test_a_notification_stamped_within_the_max_age_is_accepted(app, client, buyer, leader, product, wechatpay):
    order = place_order(buyer, leader, product)
    headers, body = paid_notification(wechatpay, order, timestamp=int(time.time()) - 290)

    assert notify(client, headers, body).status_code == 204
    assert order_status(app, order["id"]) == "paid"


def test_a_payment_of_the_wrong_amount_is_acknowledged_once_and_refunded_exactly_as_paid(app, client, buyer, leader,
                                                                                          product, wechatpay, drain):
    # given a genuine notification whose amount is not the order's total
    order = place_order(buyer, leader, product)
    paid = order["total"] - 1
    headers, body = paid_notification(wechatpay, order, amount=paid)

    # when it arrives, and again (WeChat Pay retries until it hears success)
    first, again = notify(client, headers, body), notify(client, headers, body)

    # then both are acknowledged, the payment is recorded once, and the order is not paid
    assert (first.status_code, again.status_code) == (204, 204), first.get_data(as_text=True)
    assert order_status(app, order["id"]) == "pending_payment"
    [payment] = payments_of(app, order["id"])
    assert payment.status == "amount_mismatch" and payment.amount == paid
    # and the buyer's money goes back, once, exactly what was paid
    [refund] = refunds_of(app, order["id"])
    assert (refund.amount, refund.total, refund.payment_id) == (paid, paid, payment.id)
    assert refund.reason == "amount_mismatch"
    drain()
    [sent] = wechatpay.requests_to("/v3/refund/domestic/refunds")
    assert sent.body["transaction_id"] == payment.transaction_id
    assert sent.body["amount"] == {"refund": paid, "total": paid, "currency": "CNY"}


def test_a_notification_for_an_unknown_order_is_rejected(client, wechatpay):
    headers, body = wechatpay.notification(out_trade_no=out_trade_no(999_999), amount=100)

    r = notify(client, headers, body)

    assert r.status_code == 400 and r.get_json()["code"] == "unknown_trade"


@pytest.mark.parametrize("trade_state", ["CLOSED", "PAYERROR"])
def test_a_notification_for_a_non_success_state_is_acknowledged_and_changes_nothing(app, client, buyer, leader,
                                                                                    product, wechatpay,
                                                                                    trade_state):
    order = place_order(buyer, leader, product)
    headers, body = paid_notification(wechatpay, order, trade_state=trade_state)

    r = notify(client, headers, body)

    assert r.status_code == 204
    assert order_status(app, order["id"]) == "pending_payment"
    assert payments_of(app, order["id"]) == []


def test_a_notification_the_apiv3_key_cannot_decrypt_is_a_bad_notification(app, client, buyer, leader, product,
                                                                            wechatpay):
    # given a correctly signed notification encrypted with another APIv3 key
    order = place_order(buyer, leader, product)
    headers, body = paid_notification(wechatpay, order, apiv3_key="0" * 32)

    r = notify(client, headers, body)

    assert r.status_code == 400
    assert r.get_json()["code"] == "bad_notification" and r.get_json()["message"]
    assert order_status(app, order["id"]) == "pending_payment"


def test_a_signed_notification_without_a_resource_is_a_bad_notification(client, wechatpay):
    body = json.dumps({"id": "x", "event_type": "TRANSACTION.SUCCESS", "resource_type": "encrypt-resource"})
    headers = wechatpay.signature_headers(body)
    headers["Content-Type"] = "application/json"

    r = notify(client, headers, body)

    assert r.status_code == 400 and r.get_json()["code"] == "bad_notification"


def test_concurrent_duplicate_notifications_are_applied_once(app, buyer, leader, product, wechatpay):
    # given one notification, delivered by several threads at the same moment
    order = place_order(buyer, leader, product)
    headers, body = paid_notification(wechatpay, order)
    threads_n = 8
    barrier = threading.Barrier(threads_n)
    statuses: list[int] = []
    lock = threading.Lock()

    def deliver():
        c = app.test_client()
        barrier.wait()
        code = notify(c, headers, body).status_code
        with lock:
            statuses.append(code)

    threads = [threading.Thread(target=deliver) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    # then every delivery is acknowledged and the payment is applied exactly once
    assert statuses == [204] * threads_n
    [payment] = payments_of(app, order["id"])
    assert payment.status == "applied"
    got = buyer.get(f"/orders/{order['id']}").get_json()
    assert got["status"] == "paid" and len(got["pickup_code"]) == 6


# ---- refunds ----------------------------------------------------------------------------------

def test_cancelling_a_paid_order_refunds_it_through_wechat_pay(app, client, buyer, leader, product, wechatpay,
                                                                drain):
    # given an order paid through WeChat Pay
    order = place_order(buyer, leader, product)
    headers, body = paid_notification(wechatpay, order, transaction_id="4200000002202401010000000002")
    assert notify(client, headers, body).status_code == 204

    # when the buyer cancels it before it ships
    r = buyer.post(f"/orders/{order['id']}/cancel")

    # then it is refunded at once, and the refund job asks WeChat Pay to give the money back
    assert r.status_code == 200 and r.get_json()["status"] == "refunded"
    assert wechatpay.requests_to("/v3/refund/domestic/refunds") == []
    drain()
    [sent] = wechatpay.requests_to("/v3/refund/domestic/refunds")
    [refund] = refunds_of(app, order["id"])
    assert sent.body["out_refund_no"] == refund.out_refund_no
    assert sent.body["transaction_id"] == "4200000002202401010000000002"
    assert sent.body["amount"] == {"refund": order["total"], "total": order["total"], "currency": "CNY"}
    assert refund.status == "processing" and refund.error is None


def test_a_refund_wechat_pay_reports_successful_is_recorded_as_succeeded(app, client, buyer, leader, product,
                                                                         wechatpay, drain):
    order = place_order(buyer, leader, product)
    assert notify(client, *paid_notification(wechatpay, order)).status_code == 204
    wechatpay.refund_status = "SUCCESS"

    assert buyer.post(f"/orders/{order['id']}/cancel").status_code == 200
    drain()

    [refund] = refunds_of(app, order["id"])
    assert refund.status == "succeeded" and refund.completed_at is not None


def test_a_refund_result_notification_finishes_a_processing_refund_once(app, client, buyer, leader, product,
                                                                         wechatpay, drain):
    # given a refund that WeChat Pay accepted as PROCESSING
    order = place_order(buyer, leader, product)
    assert notify(client, *paid_notification(wechatpay, order)).status_code == 204
    assert buyer.post(f"/orders/{order['id']}/cancel").status_code == 200
    drain()
    [refund] = refunds_of(app, order["id"])
    assert refund.status == "processing"

    # when WeChat Pay notifies the refund's success (twice)
    headers, body = wechatpay.refund_notification(out_refund_no=refund.out_refund_no,
                                                  out_trade_no=out_trade_no(order["id"]), amount=order["total"])
    assert notify(client, headers, body).status_code == 204
    assert notify(client, headers, body).status_code == 204

    # then the refund is done
    [refund] = refunds_of(app, order["id"])
    assert refund.status == "succeeded" and refund.completed_at is not None


def test_an_abnormal_refund_notification_marks_the_refund_failed_for_an_operator(app, client, buyer, leader,
                                                                                 product, wechatpay, drain):
    order = place_order(buyer, leader, product)
    assert notify(client, *paid_notification(wechatpay, order)).status_code == 204
    assert buyer.post(f"/orders/{order['id']}/cancel").status_code == 200
    drain()
    [refund] = refunds_of(app, order["id"])
    headers, body = wechatpay.refund_notification(out_refund_no=refund.out_refund_no, refund_status="ABNORMAL",
                                                  out_trade_no=out_trade_no(order["id"]), amount=order["total"])
    assert notify(client, headers, body).status_code == 204
    [refund] = refunds_of(app, order["id"])
    assert refund.status == "failed" and "ABNORMAL" in refund.error


def test_a_refund_wechat_pay_fails_is_kept_with_its_error_for_a_retry(app, client, buyer, leader, product,
                                                                      wechatpay, drain):
    # given a paid order, and WeChat Pay failing
    order = place_order(buyer, leader, product)
    assert notify(client, *paid_notification(wechatpay, order)).status_code == 204
    wechatpay.fail_with = 500

    # when the refund job runs
    assert buyer.post(f"/orders/{order['id']}/cancel").status_code == 200
    drain(include_scheduled=False)

    # then the refund is still pending, with the reason, and the order stays refunded
    [refund] = refunds_of(app, order["id"])
    assert refund.status == "pending" and "SYSTEM_ERROR" in (refund.error or "")
    assert order_status(app, order["id"]) == "refunded"


def test_a_payment_for_an_order_cancelled_meanwhile_is_refunded(app, client, buyer, leader, product, wechatpay,
                                                                drain):
    # given an order the buyer cancelled before WeChat Pay's notification arrived
    order = place_order(buyer, leader, product)
    assert buyer.post(f"/orders/{order['id']}/cancel").get_json()["status"] == "cancelled"

    # when the notification arrives
    r = notify(client, *paid_notification(wechatpay, order))

    # then it is acknowledged, the order stays cancelled, and the money goes back
    assert r.status_code == 204
    assert order_status(app, order["id"]) == "cancelled"
    [payment] = payments_of(app, order["id"])
    assert payment.status == "late"
    drain()
    [sent] = wechatpay.requests_to("/v3/refund/domestic/refunds")
    assert sent.body["transaction_id"] == payment.transaction_id
