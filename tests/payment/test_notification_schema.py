"""Correctly signed WeChat Pay notifications that say odd things: each is refused with 400
bad_notification (or acknowledged without effect), never a 500, and nothing of it is stored. Every
test runs on SQLite and PostgreSQL: PostgreSQL refuses what SQLite stores (a 100-character
transaction_id in a 64-character column, an id past 2**31), so a schema check is the only way both
answer alike. Also: the merchant, mini-program and currency checks, refund times with offsets, and
several trusted WeChat Pay public keys (key rotation)."""
from __future__ import annotations

import json
import time

import pytest

from app.config import Settings
from app.payment.providers import out_trade_no
from tests.fakes.wechatpay import KeyPair
from tests.payment.helpers import (notify, order_status, paid_notification, payments_of, place_order, refund_by_id,
                                   refunds_of)


@pytest.fixture
def settings_overrides(wechatpay):
    return wechatpay.settings()


@pytest.fixture
def order(buyer, leader, product):
    return place_order(buyer, leader, product)


def assert_bad_notification(r):
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["code"] == "bad_notification" and body["message"], body
    return body


def assert_nothing_happened(app, order):
    assert order_status(app, order["id"]) == "pending_payment"
    assert payments_of(app, order["id"]) == []


def send_payment(client, wechatpay, order, *, event_type="TRANSACTION.SUCCESS", **changes):
    resource = wechatpay.payment_resource(out_trade_no=out_trade_no(order["id"]), amount=order["total"])
    for key, value in changes.items():
        if value is ...:
            resource.pop(key)
        else:
            resource[key] = value
    return notify(client, *wechatpay.signed_notification(resource, event_type=event_type))


# ---- the envelope -------------------------------------------------------------------------------

def test_an_event_type_that_is_not_an_event_name_is_a_bad_notification(app, client, order, wechatpay):
    for event_type in (None, 12, ["TRANSACTION.SUCCESS"], "", "transaction.success", "TRANSACTION.SUCCESS\n"):
        assert_bad_notification(send_payment(client, wechatpay, order, event_type=event_type))
    assert_nothing_happened(app, order)


def test_an_envelope_without_an_event_type_is_a_bad_notification(app, client, order, wechatpay):
    resource = wechatpay.payment_resource(out_trade_no=out_trade_no(order["id"]), amount=order["total"])
    headers, body = wechatpay.signed_notification(resource)
    envelope = json.loads(body)
    del envelope["event_type"]
    body = json.dumps(envelope)
    headers.update(wechatpay.signature_headers(body))

    assert_bad_notification(notify(client, headers, body))
    assert_nothing_happened(app, order)


def test_an_envelope_with_odd_fields_is_a_bad_notification(app, client, order, wechatpay):
    resource = wechatpay.payment_resource(out_trade_no=out_trade_no(order["id"]), amount=order["total"])
    for change in ({"resource_type": "plain"}, {"resource": "not an object"}, {"resource": None}, {"id": 42},
                   {"summary": ["x"]}, {"resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": "%%%",
                                                     "nonce": "n" * 12}}):
        assert_bad_notification(notify(client, *wechatpay.signed_notification(resource, envelope=change)))
    assert_nothing_happened(app, order)


def test_an_unknown_event_type_is_acknowledged_without_effect(app, client, order, wechatpay):
    r = send_payment(client, wechatpay, order, event_type="MARKETING.COUPON.USED")

    assert r.status_code == 204
    assert_nothing_happened(app, order)


def test_a_signed_timestamp_that_is_no_unix_time_is_a_bad_notification(app, client, order, wechatpay):
    # given notifications whose (signed) timestamp header is 400 digits, or not digits at all
    resource = wechatpay.payment_resource(out_trade_no=out_trade_no(order["id"]), amount=order["total"])
    for timestamp in ("9" * 400, "1e9", "-5", "1700000000.5", "0x6553f100"):
        headers, body = wechatpay.signed_notification(resource, timestamp=timestamp)

        # then each is refused as unreadable (400 digits overflowed the float they were compared in)
        assert_bad_notification(notify(client, headers, body))
    assert_nothing_happened(app, order)


# ---- the payment resource -----------------------------------------------------------------------

def test_an_out_trade_no_that_is_not_one_of_ours_is_a_bad_notification(app, client, order, wechatpay):
    # "LL٠١٢..." once reached the order with the id its Arabic-Indic digits spell (int() reads them)
    digits = f"{order['id']:012d}"
    arabic = "".join(chr(0x660 + int(d)) for d in digits)
    for value in ("LL" + "1" * 30, "LL" + arabic, "LL" + digits[:-1] + "１", f"LL{digits}\n", f"ll{digits}", 1,
                  None):
        assert_bad_notification(send_payment(client, wechatpay, order, out_trade_no=value))
    assert_nothing_happened(app, order)


def test_an_out_trade_no_naming_an_id_no_row_can_have_is_an_unknown_trade(app, client, order, wechatpay):
    r = send_payment(client, wechatpay, order, out_trade_no="LL999999999999")  # past 2**31: PostgreSQL's integer

    assert r.status_code == 400 and r.get_json()["code"] == "unknown_trade"
    assert_nothing_happened(app, order)


def test_a_transaction_id_longer_than_its_column_or_not_ascii_is_a_bad_notification(app, client, order, wechatpay):
    for value in ("4" * 100, "4" * 65, "4200 0000", "４２００００", "42\u0000", 4200000001, ""):
        assert_bad_notification(send_payment(client, wechatpay, order, transaction_id=value))
    assert_nothing_happened(app, order)


def test_a_transaction_id_as_long_as_its_column_is_accepted(app, client, order, wechatpay):
    assert send_payment(client, wechatpay, order, transaction_id="4" * 64).status_code == 204
    assert [p.transaction_id for p in payments_of(app, order["id"])] == ["4" * 64]


def test_an_amount_that_is_no_whole_number_of_fen_is_a_bad_notification(app, client, order, wechatpay):
    for total in (order["total"] + 0.5, float(order["total"]), True, str(order["total"]), 2**63, 10**30, -1, 0,
                  None):
        r = send_payment(client, wechatpay, order, amount={"total": total, "payer_total": 1, "currency": "CNY",
                                                           "payer_currency": "CNY"})
        assert_bad_notification(r)
    assert_bad_notification(send_payment(client, wechatpay, order, amount=order["total"]))
    assert_nothing_happened(app, order)


def test_a_successful_payment_missing_a_field_is_a_bad_notification(app, client, order, wechatpay):
    for missing in ("mchid", "appid", "out_trade_no", "transaction_id", "trade_state", "success_time", "amount"):
        assert_bad_notification(send_payment(client, wechatpay, order, **{missing: ...}))
    assert_nothing_happened(app, order)


def test_a_payment_time_without_an_offset_is_a_bad_notification(app, client, order, wechatpay):
    for success_time in ("2026-11-22T10:00:00", "yesterday", 1763805600, ""):
        assert_bad_notification(send_payment(client, wechatpay, order, success_time=success_time))
    assert_nothing_happened(app, order)


def test_a_payment_to_another_merchant_is_a_bad_notification(app, client, order, wechatpay):
    assert_bad_notification(send_payment(client, wechatpay, order, mchid="1900000999"))
    assert_nothing_happened(app, order)


def test_a_payment_to_another_mini_program_is_a_bad_notification(app, client, order, wechatpay):
    assert_bad_notification(send_payment(client, wechatpay, order, appid="wx-someone-else"))
    assert_nothing_happened(app, order)


def test_a_payment_in_another_currency_or_none_is_a_bad_notification(app, client, order, wechatpay):
    for currency in ("USD", None, "cny"):
        r = send_payment(client, wechatpay, order, amount={"total": order["total"], "currency": currency})
        assert_bad_notification(r)
    assert_bad_notification(send_payment(client, wechatpay, order, amount={"total": order["total"]}))
    assert_nothing_happened(app, order)


def test_a_resource_that_is_not_a_json_object_is_a_bad_notification(app, client, order, wechatpay):
    for plain in ("[]", "null", "\"SUCCESS\"", "{not json"):
        assert_bad_notification(notify(client, *wechatpay.signed_notification(plain)))
    assert_nothing_happened(app, order)


def test_the_well_formed_payment_these_tests_start_from_is_applied(app, client, order, wechatpay):
    r = send_payment(client, wechatpay, order)

    assert r.status_code == 204, r.get_data(as_text=True)
    assert order_status(app, order["id"]) == "paid"
    [payment] = payments_of(app, order["id"])
    # what is stored is what the schema read, nothing it did not
    assert payment.payload["out_trade_no"] == out_trade_no(order["id"]) and "attach" not in payment.payload


# ---- refund notifications -----------------------------------------------------------------------

@pytest.fixture
def processing_refund(app, client, buyer, order, wechatpay, drain):
    assert notify(client, *paid_notification(wechatpay, order)).status_code == 204
    assert buyer.post(f"/orders/{order['id']}/cancel").status_code == 200
    drain()
    [refund] = refunds_of(app, order["id"])
    assert refund.status == "processing"
    return refund


def test_a_refund_success_time_is_read_with_its_offset(app, client, order, wechatpay, processing_refund):
    headers, body = wechatpay.refund_notification(out_refund_no=processing_refund.out_refund_no,
                                                  out_trade_no=out_trade_no(order["id"]), amount=order["total"],
                                                  success_time="2026-11-22T18:30:05+08:00")

    assert notify(client, headers, body).status_code == 204

    refund = refund_by_id(app, processing_refund.id)
    assert refund.status == "succeeded"
    assert refund.completed_at.isoformat() == "2026-11-22T10:30:05+00:00"


def test_a_refund_success_time_without_an_offset_is_a_bad_notification_not_a_500(app, client, order, wechatpay,
                                                                                  processing_refund):
    for success_time in ("2026-11-22T18:30:05", "2026-11-22", "soon"):
        headers, body = wechatpay.refund_notification(out_refund_no=processing_refund.out_refund_no,
                                                      out_trade_no=out_trade_no(order["id"]), amount=order["total"],
                                                      success_time=success_time)

        assert_bad_notification(notify(client, headers, body))
    assert refund_by_id(app, processing_refund.id).status == "processing"


def test_a_refund_notification_with_odd_fields_is_a_bad_notification(app, client, order, wechatpay,
                                                                    processing_refund):
    for change in ({"mchid": "1900000999"}, {"mchid": None}, {"out_refund_no": "R" * 65},
                   {"out_refund_no": "RF٠١"}, {"refund_status": "DONE"}, {"refund_status": 1},
                   {"amount": {"total": 1, "refund": 1.5}}, {"success_time": None}):
        resource = {"mchid": wechatpay.mchid, "out_trade_no": out_trade_no(order["id"]),
                    "transaction_id": "4200" + "0" * 24, "out_refund_no": processing_refund.out_refund_no,
                    "refund_id": "50300000000000000000000000", "refund_status": "SUCCESS",
                    "success_time": "2026-11-22T18:30:05+08:00", "amount": {"total": 1, "refund": 1}}
        resource.update(change)

        r = notify(client, *wechatpay.signed_notification(resource, event_type="REFUND.SUCCESS"))
        assert_bad_notification(r)
    assert refund_by_id(app, processing_refund.id).status == "processing"


def test_a_refund_notification_for_a_refund_we_never_made_is_acknowledged_without_effect(app, client, order,
                                                                                       wechatpay,
                                                                                       processing_refund):
    headers, body = wechatpay.refund_notification(out_refund_no="RF-made-in-the-merchant-console",
                                                  out_trade_no=out_trade_no(order["id"]), amount=1)

    assert notify(client, headers, body).status_code == 204
    assert refund_by_id(app, processing_refund.id).status == "processing"


# ---- key rotation -------------------------------------------------------------------------------

NEW_KEY_ID = "PUB_KEY_ID_0119000010920261122000000000000001"


@pytest.fixture(scope="module")
def new_key(tmp_path_factory):
    key = KeyPair.generate()
    path = tmp_path_factory.mktemp("rotation") / "pub_key_new.pem"
    path.write_text(key.public_pem())
    return key, str(path)


def test_notifications_signed_with_either_configured_public_key_are_accepted(wechatpay, new_key,
                                                                           buyer, leader, product, client):
    # given the old key (single settings) and the new one (LINLI_WECHATPAY_PUBLIC_KEYS) both trusted
    key, path = new_key
    app = client.application
    p = app.extensions["linli.payment_provider"]
    from app.payment.wechatpay import WechatPayProvider
    rotated = WechatPayProvider(app.extensions["linli.settings"].model_copy(
        update={"wechatpay_public_keys": {NEW_KEY_ID: path}}))
    app.extensions["linli.payment_provider"] = rotated
    try:
        old_order, new_order, forged = (place_order(buyer, leader, product) for _ in range(3))

        # when WeChat Pay signs one notification with the old key and one with the new
        r_old = notify(client, *paid_notification(wechatpay, old_order))
        r_new = notify(client, *paid_notification(wechatpay, new_order, signing_key=key, serial=NEW_KEY_ID))
        # and someone signs with the new key but names the old one's serial
        r_forged = notify(client, *paid_notification(wechatpay, forged, signing_key=key))
    finally:
        app.extensions["linli.payment_provider"] = p

    # then both genuine ones are applied; the mismatched one is refused
    assert (r_old.status_code, r_new.status_code) == (204, 204), r_new.get_data(as_text=True)
    assert order_status(app, old_order["id"]) == order_status(app, new_order["id"]) == "paid"
    assert r_forged.status_code == 401 and r_forged.get_json()["code"] == "signature_invalid"
    assert order_status(app, forged["id"]) == "pending_payment"


def test_only_the_keys_listed_are_trusted_and_answers_signed_with_a_new_key_verify(app, client, wechatpay, new_key,
                                                                                  buyer, leader, product):
    # given only the map setting (no single key): the old and the new key
    key, path = new_key
    from app.payment.wechatpay import WechatPayProvider
    s = app.extensions["linli.settings"].model_copy(update={
        "wechatpay_public_key_id": "", "wechatpay_public_key_path": "",
        "wechatpay_public_keys": {wechatpay.public_key_id: str(wechatpay.public_key_path), NEW_KEY_ID: path}})
    app.extensions["linli.payment_provider"] = WechatPayProvider(s)
    order = place_order(buyer, leader, product)

    # when WeChat Pay has moved to signing its answers with the new key
    wechatpay.answer_key, wechatpay.answer_serial = key, NEW_KEY_ID
    r = buyer.post(f"/orders/{order['id']}/pay")

    # then its answers still verify
    assert r.status_code == 200, r.get_json()
    # and a notification signed by a key nobody configured is refused
    stranger = KeyPair.generate()
    r = notify(client, *paid_notification(wechatpay, order, signing_key=stranger, serial="PUB_KEY_ID_STRANGER"))
    assert r.status_code == 401 and r.get_json()["code"] == "signature_invalid"


def test_an_answer_signed_by_an_unconfigured_key_is_not_trusted(app, client, wechatpay, buyer, leader, product):
    order = place_order(buyer, leader, product)
    wechatpay.answer_key, wechatpay.answer_serial = KeyPair.generate(), "PUB_KEY_ID_STRANGER"

    r = buyer.post(f"/orders/{order['id']}/pay")

    assert r.status_code == 503 and r.get_json()["code"] == "payment_provider_unavailable"


def test_the_public_keys_setting_is_read_as_json_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LINLI_WECHATPAY_PUBLIC_KEYS", json.dumps({"PUB_KEY_ID_A": "/keys/a.pem",
                                                                  "PUB_KEY_ID_B": "/keys/b.pem"}))

    assert Settings().wechatpay_public_keys == {"PUB_KEY_ID_A": "/keys/a.pem", "PUB_KEY_ID_B": "/keys/b.pem"}


def test_a_notification_is_checked_against_time_with_the_configured_max_age(app, client, order, wechatpay):
    # a sanity check that the shape checks did not loosen the age check
    resource = wechatpay.payment_resource(out_trade_no=out_trade_no(order["id"]), amount=order["total"])
    r = notify(client, *wechatpay.signed_notification(resource, timestamp=int(time.time()) - 3600))
    assert r.status_code == 401 and r.get_json()["code"] == "notification_stale"
