"""Recharges, paying orders from the wallet, and what comes back when they are refunded."""
from __future__ import annotations

from tests.wallet.helpers import books_balanced, entries, package, pay_wallet, place, top_up, wallet


def test_a_sandbox_recharge_credits_principal_and_bonus_once(app, admin, buyer):
    out = top_up(buyer, admin, 10000, 1000)
    assert out["recharge"]["status"] == "paid"
    assert (out["recharge"]["pay_amount"], out["recharge"]["bonus_amount"]) == (10000, 1000)
    assert out["payment"]["provider"] == "sandbox"
    w = wallet(buyer)
    assert (w["balance"], w["principal"], w["bonus"], w["growth"], w["level"]) == (11000, 10000, 1000, 0, None)
    items = buyer.get("/me/wallet/entries").get_json()["items"]
    assert [(e["kind"], e["amount"], e["principal"], e["bonus"], e["balance_after"]) for e in items] == [
        ("recharge", 11000, 10000, 1000, 11000)]
    assert books_balanced(app)


def test_only_active_packages_are_listed_and_an_inactive_one_cannot_be_bought(admin, buyer):
    on = package(admin, 5000, 300, name="充50送3")
    r = admin.post("/admin/recharge-packages", json={"name": "下架", "pay_amount": 100, "bonus_amount": 0,
                                                     "active": False})
    off = r.get_json()
    ids = [p["id"] for p in buyer.get("/recharge-packages").get_json()["items"]]
    assert on["id"] in ids and off["id"] not in ids
    r = buyer.post("/me/wallet/recharges", json={"package_id": off["id"]})
    assert r.status_code == 404 and r.get_json()["code"] == "recharge_package_not_found"


def test_paying_an_order_from_the_wallet_spends_principal_first(app, admin, buyer, leader, product):
    top_up(buyer, admin, 1000, 1000)  # 10 yuan principal, 10 bonus
    order = place(buyer, product, leader[1])  # 1990
    r = pay_wallet(buyer, order["id"])
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["order"]["status"] == "paid"
    assert r.get_json()["payment"]["provider"] == "wallet"
    w = wallet(buyer)
    assert (w["balance"], w["principal"], w["bonus"]) == (10, 0, 10)
    assert entries(app, buyer.user["id"])[-1] == ("payment", -1990, -1000, -990, 10)
    # Paying again changes nothing.
    r = pay_wallet(buyer, order["id"])
    assert r.status_code == 200 and wallet(buyer)["balance"] == 10


def test_a_short_wallet_is_refused_and_the_order_stays_payable(admin, buyer, leader, product):
    top_up(buyer, admin, 1000, 0)
    order = place(buyer, product, leader[1])
    r = pay_wallet(buyer, order["id"])
    assert r.status_code == 409 and r.get_json()["code"] == "insufficient_balance"
    assert buyer.get(f"/orders/{order['id']}").get_json()["status"] == "pending_payment"
    assert wallet(buyer)["balance"] == 1000
    r = buyer.post(f"/orders/{order['id']}/pay")  # the default method still works, without a body
    assert r.status_code == 200 and r.get_json()["order"]["status"] == "paid"


def test_cancelling_a_wallet_paid_order_puts_principal_and_bonus_back(app, admin, buyer, leader, product):
    top_up(buyer, admin, 1000, 1000)
    order = place(buyer, product, leader[1])
    assert pay_wallet(buyer, order["id"]).status_code == 200
    r = buyer.post(f"/orders/{order['id']}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "refunded"
    w = wallet(buyer)
    assert (w["balance"], w["principal"], w["bonus"]) == (2000, 1000, 1000)
    assert entries(app, buyer.user["id"])[-1] == ("refund", 1990, 1000, 990, 2000)
    assert books_balanced(app)


def test_an_operator_refund_of_a_wallet_paid_order_goes_back_to_the_wallet(app, admin, buyer, leader, product):
    top_up(buyer, admin, 3000, 0)
    order = place(buyer, product, leader[1])
    assert pay_wallet(buyer, order["id"]).status_code == 200
    r = admin.post(f"/admin/orders/{order['id']}/refund", json={"reason": "after_sales"})
    assert r.status_code == 200, r.get_json()
    assert wallet(buyer)["balance"] == 3000
    refunds = admin.get("/admin/refunds").get_json()["items"]
    assert [(x["provider"], x["status"], x["amount"]) for x in refunds] == [("wallet", "succeeded", 1990)]


def test_a_recharge_refund_takes_principal_and_bonus_back_out(app, admin, buyer, drain):
    rc = top_up(buyer, admin, 10000, 1000)["recharge"]
    r = admin.post(f"/admin/wallet-recharges/{rc['id']}/refund")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "refunded"
    assert wallet(buyer)["balance"] == 0
    drain()
    refunds = admin.get("/admin/refunds").get_json()["items"]
    assert [(x["provider"], x["status"], x["amount"]) for x in refunds] == [("sandbox", "succeeded", 10000)]
    r = admin.post(f"/admin/wallet-recharges/{rc['id']}/refund")
    assert r.status_code == 409 and r.get_json()["code"] == "invalid_state"
    assert books_balanced(app)


def test_a_recharge_partly_spent_cannot_be_refunded(admin, buyer, leader, product):
    rc = top_up(buyer, admin, 2000, 100)["recharge"]
    order = place(buyer, product, leader[1])
    assert pay_wallet(buyer, order["id"]).status_code == 200
    r = admin.post(f"/admin/wallet-recharges/{rc['id']}/refund")
    assert r.status_code == 409 and r.get_json()["code"] == "balance_spent"
    assert wallet(buyer)["balance"] == 110
