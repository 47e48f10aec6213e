"""The pay code at the leader's counter: issued, charged once, refunded the same day once."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.db import transaction
from app.notify.models import Notification
from app.wallet.models import PayCodeCharge
from tests.wallet.helpers import books_balanced, entries, top_up, wallet


def code_of(buyer) -> dict:
    r = buyer.post("/me/wallet/pay-code")
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def charge(leader_api, code, amount, **kw):
    return leader_api.post("/leader/pay-code-charges", json={"code": code, "amount": amount, **kw})


def test_a_pay_code_is_18_digits_and_a_new_one_voids_the_last(app, admin, buyer, leader, clock):
    first = code_of(buyer)
    assert len(first["code"]) == 18 and first["code"].isdigit()
    second = code_of(buyer)
    assert second["code"] != first["code"]
    top_up(buyer, admin, 1000, 0)
    r = charge(leader[0], first["code"], 100)
    assert r.status_code == 409 and r.get_json()["code"] == "code_expired"
    assert charge(leader[0], second["code"], 100).status_code == 201


def test_a_counter_charge_pays_from_the_wallet_credits_the_leader_and_tells_the_buyer(app, admin, buyer, leader):
    top_up(buyer, admin, 1000, 500)
    r = charge(leader[0], code_of(buyer)["code"], 1200, note="苹果两斤")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["buyer"]["nickname"], body["amount"], body["balance_after"], body["status"]) == (
        "小邻居", 1200, 300, "charged")
    w = wallet(buyer)
    assert (w["principal"], w["bonus"]) == (0, 300)  # principal first
    earnings = leader[0].get("/leader/earnings").get_json()
    assert earnings["available"] == 1200
    assert [(i["kind"], i["amount"]) for i in earnings["items"]] == [("pay_code_sale", 1200)]
    with app.app_context(), transaction() as s:
        notes = list(s.exec(select(Notification).where(Notification.user_id == buyer.user["id"],
                                                       Notification.event == "pay_code.charged")))
    assert [n.data["amount"] for n in notes] == [1200]
    assert books_balanced(app)


def test_a_code_is_used_once_and_expires(app, admin, buyer, leader, clock):
    top_up(buyer, admin, 5000, 0)
    code = code_of(buyer)["code"]
    assert charge(leader[0], code, 100).status_code == 201
    r = charge(leader[0], code, 100)
    assert r.status_code == 409 and r.get_json()["code"] == "code_used"
    late = code_of(buyer)["code"]
    clock.advance(61)
    r = charge(leader[0], late, 100)
    assert r.status_code == 409 and r.get_json()["code"] == "code_expired"
    r = charge(leader[0], "660000000000000001", 100)
    assert r.status_code == 404 and r.get_json()["code"] == "unknown_code"
    assert wallet(buyer)["balance"] == 4900


def test_a_short_wallet_refuses_the_charge_and_leaves_the_code_usable(admin, buyer, leader):
    top_up(buyer, admin, 500, 0)
    code = code_of(buyer)["code"]
    r = charge(leader[0], code, 501)
    assert r.status_code == 409 and r.get_json()["code"] == "insufficient_balance"
    assert charge(leader[0], code, 500).status_code == 201
    assert wallet(buyer)["balance"] == 0


def test_the_idempotency_key_replays_the_charge(admin, buyer, leader):
    top_up(buyer, admin, 5000, 0)
    code = code_of(buyer)["code"]
    h = {"Idempotency-Key": "till-1"}
    a = leader[0].post("/leader/pay-code-charges", json={"code": code, "amount": 300}, headers=h)
    b = leader[0].post("/leader/pay-code-charges", json={"code": code, "amount": 300}, headers=h)
    assert a.status_code == b.status_code == 201 and a.get_json() == b.get_json()
    assert wallet(buyer)["balance"] == 4700


def test_a_charge_is_refunded_the_same_day_once_in_the_parts_it_came_out(app, admin, buyer, leader):
    top_up(buyer, admin, 1000, 500)
    sale = charge(leader[0], code_of(buyer)["code"], 1200).get_json()
    r = leader[0].post(f"/leader/pay-code-charges/{sale['id']}/refund")
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["status"], r.get_json()["balance_after"]) == ("refunded", 1500)
    w = wallet(buyer)
    assert (w["principal"], w["bonus"]) == (1000, 500)
    assert entries(app, buyer.user["id"])[-1] == ("pay_code_refund", 1200, 1000, 200, 1500)
    assert leader[0].get("/leader/earnings").get_json()["available"] == 0
    r = leader[0].post(f"/leader/pay-code-charges/{sale['id']}/refund")
    assert r.status_code == 409 and r.get_json()["code"] == "charge_already_refunded"
    assert wallet(buyer)["balance"] == 1500
    assert books_balanced(app)


def test_a_charge_of_another_day_or_another_leader_is_not_refunded(app, client, admin, buyer, leader):
    from tests.conftest import make_leader

    top_up(buyer, admin, 1000, 0)
    sale = charge(leader[0], code_of(buyer)["code"], 100).get_json()
    other, _ = make_leader(client, admin, lat=31.2304, lng=121.4737)
    r = other.post(f"/leader/pay-code-charges/{sale['id']}/refund")
    assert r.status_code == 404 and r.get_json()["code"] == "charge_not_found"
    with app.app_context(), transaction() as s:
        row = s.get(PayCodeCharge, sale["id"])
        row.business_date -= timedelta(days=1)
        s.add(row)
    r = leader[0].post(f"/leader/pay-code-charges/{sale['id']}/refund")
    assert r.status_code == 409 and r.get_json()["code"] == "charge_refund_closed"
    assert [c["id"] for c in leader[0].get("/leader/pay-code-charges").get_json()["items"]] == [sale["id"]]
    assert other.get("/leader/pay-code-charges").get_json()["items"] == []
