"""WeChat's message pushes for shipping: verified as WeChat signs them (plain and safe mode),
applied once; a settlement applied twice settles once; a reminder queues what WeChat still waits
for; on SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import delete

from app import create_app
from app.db import transaction
from app.shipping import push
from app.shipping.models import ShippingSync
from tests.fakes.wechat_api import UPLOAD_SHIPPING, signed_push, wechat_api  # noqa: F401 - the fixture
from tests.shipping.helpers import TOKEN, paid_order, pushes, receive, run_jobs, ship, sync_of

PUSH = "/api/v1/wechat/push"
SETTLEMENT = "trade_manage_order_settlement"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # 43 characters, as WeChat's console gives


@pytest.fixture
def settings_overrides(wechat_api):
    return {**wechat_api.settings(), "wechat_retries": 0, "wechat_timeout_s": 1.0, "shipping_retry_s": [0],
            "wechat_push_token": TOKEN}


def post(client, query: dict, body: bytes):
    return client.post(PUSH, query_string=query, data=body, content_type="application/json")


def uploaded_order(app, buyer, leader, product, wechat_api) -> dict:
    order = paid_order(app, buyer, leader, product, wechat_api)
    ship(app, order["delivery_date"])
    receive(leader, order["delivery_date"])
    run_jobs(app)
    assert sync_of(app, order["id"]).state == "uploaded"
    return order


def test_the_signature_is_wechats_own_example():
    # message-push.html: Token "AAAAA", timestamp 1714036504, nonce 1514711492.
    assert push.signature_of("AAAAA", "1714036504", "1514711492") == "f464b24fc39322e44b38aa78f5edd27bd1441696"


def test_safe_mode_decrypts_what_wechat_encrypts():
    query, body = signed_push({"Event": SETTLEMENT, "transaction_id": "42"}, token=TOKEN, aes_key=AES_KEY,
                              appid="wx-app")
    cipher = json.loads(body)["Encrypt"]
    assert json.loads(push.decrypt(AES_KEY, cipher, appid="wx-app"))["transaction_id"] == "42"
    with pytest.raises(push.PushSignatureInvalid):
        push.decrypt(AES_KEY, cipher, appid="wx-other")
    with pytest.raises(push.PushSignatureInvalid):
        push.decrypt(AES_KEY, "bm90IGNpcGhlcnRleHQ=", appid="wx-app")


def test_the_url_check_answers_echostr_only_when_signed(client):
    query, _ = signed_push({}, token=TOKEN)
    r = client.get(PUSH, query_string={**query, "echostr": "4375120948345356249"})
    assert (r.status_code, r.get_data(as_text=True)) == (200, "4375120948345356249")
    r = client.get(PUSH, query_string={**query, "signature": "0" * 40, "echostr": "x"})
    assert r.status_code == 401 and r.get_json()["code"] == "push_signature_invalid"


def test_a_push_not_signed_with_our_token_changes_nothing(app, client, buyer, leader, product, wechat_api):
    order = uploaded_order(app, buyer, leader, product, wechat_api)
    query, body = wechat_api.push_message(SETTLEMENT, token="not-our-token", transaction_id=order["transaction_id"],
                                          settlement_time=1_800_000_000)
    r = post(client, query, body)
    assert r.status_code == 401 and r.get_json()["code"] == "push_signature_invalid"
    assert post(client, {}, body).status_code == 401
    assert post(client, signed_push({}, token=TOKEN)[0], b"[1, 2]").get_json()["code"] == "bad_push"
    assert post(client, signed_push({}, token=TOKEN)[0], b"{not json").status_code == 400
    assert sync_of(app, order["id"]).state == "uploaded" and pushes(app) == []


def test_a_settlement_push_applied_twice_settles_once(app, client, buyer, leader, product, wechat_api):
    order = uploaded_order(app, buyer, leader, product, wechat_api)
    txn = order["transaction_id"]
    shipped = wechat_api.push_message(SETTLEMENT, token=TOKEN, transaction_id=txn, shipped_time=1_790_000_000,
                                      estimated_settlement_time=1_790_600_000)
    assert post(client, *shipped).get_data(as_text=True) == "success"
    assert sync_of(app, order["id"]).estimated_settlement_at == datetime.fromtimestamp(1_790_600_000, timezone.utc)

    wechat_api.settle(txn)
    settled = wechat_api.push_message(SETTLEMENT, token=TOKEN, transaction_id=txn, confirm_receive_method=1,
                                      confirm_receive_time=1_790_100_000, settlement_time=1_790_200_000)
    for _ in range(2):  # WeChat resends a push it got no answer to
        r = post(client, *settled)
        assert (r.status_code, r.get_data(as_text=True)) == (200, "success")
    later = wechat_api.push_message(SETTLEMENT, token=TOKEN, transaction_id=txn, create_time=1_999_999_999,
                                    settlement_time=1_790_900_000)
    post(client, *later)

    sync = sync_of(app, order["id"])
    assert sync.state == "settled"
    assert sync.settled_at == datetime.fromtimestamp(1_790_200_000, timezone.utc)
    assert sync.confirmed_at == datetime.fromtimestamp(1_790_100_000, timezone.utc)
    assert [p.event for p in pushes(app)] == [SETTLEMENT] * 3  # the resend recorded once
    assert wechat_api.upload_calls == 1


def test_a_settlement_push_resolves_an_uncertain_upload(app, client, buyer, leader, product, wechat_api):
    wechat_api.stall_after_next(UPLOAD_SHIPPING, 2.5)
    order = paid_order(app, buyer, leader, product, wechat_api)
    ship(app, order["delivery_date"])
    receive(leader, order["delivery_date"])
    run_jobs(app)
    assert sync_of(app, order["id"]).state == "uncertain"
    post(client, *wechat_api.push_message(SETTLEMENT, token=TOKEN, transaction_id=order["transaction_id"],
                                          shipped_time=1_790_000_000, estimated_settlement_time=1_790_600_000))
    assert sync_of(app, order["id"]).state == "uploaded"
    run_jobs(app)
    assert wechat_api.upload_calls == 1


def test_a_remind_shipping_push_queues_an_arrived_order_wechat_still_waits_for(app, client, buyer, leader, product,
                                                                              wechat_api):
    order = paid_order(app, buyer, leader, product, wechat_api)
    ship(app, order["delivery_date"])
    receive(leader, order["delivery_date"])
    with app.app_context(), transaction() as s:  # as if the arrival hook had been lost
        s.execute(delete(ShippingSync))
    remind = wechat_api.push_message("trade_manage_remind_shipping", token=TOKEN,
                                     transaction_id=order["transaction_id"], msg="订单已超过48小时未发货")
    assert post(client, *remind).status_code == 200
    run_jobs(app)
    assert len(wechat_api.uploads_for(order["transaction_id"])) == 1
    access = wechat_api.push_message("trade_manage_remind_access_api", token=TOKEN, msg="请尽快接入发货信息管理")
    assert post(client, *access).status_code == 200
    other = wechat_api.push_message("user_enter_tempsession", token=TOKEN)
    assert post(client, *other).status_code == 200  # acknowledged, not ours
    assert [p.event for p in pushes(app)] == ["trade_manage_remind_shipping", "trade_manage_remind_access_api"]


def test_safe_mode_takes_only_encrypted_pushes(make_settings, buyer, wechat_api):
    app = create_app(make_settings(wechat_push_aes_key=AES_KEY))
    try:
        client = app.test_client()
        query, body = wechat_api.push_message("trade_manage_remind_access_api", token=TOKEN, aes_key=AES_KEY,
                                              msg="hi")
        assert post(client, query, body).status_code == 200
        assert post(client, query, body).status_code == 200  # a resend: recorded once
        assert len(pushes(app)) == 1
        plain = wechat_api.push_message("trade_manage_remind_access_api", token=TOKEN, msg="hi")
        assert post(client, *plain).status_code == 401
        tampered = dict(query, msg_signature="0" * 40)
        assert post(client, tampered, body).status_code == 401
    finally:
        app.extensions["linli.engine"].dispose()


def test_the_push_endpoint_is_absent_without_a_token(make_settings):
    app = create_app(make_settings(wechat_push_token=""))
    try:
        r = app.test_client().post(PUSH, data=b"{}", content_type="application/json")
        assert r.status_code == 404
    finally:
        app.extensions["linli.engine"].dispose()
