"""Every kind of order can be paid from the wallet, at its campaign's price (no member discount),
and a refund puts it back."""
from __future__ import annotations

from tests.bargain.test_bargain import make_bargain
from tests.flashsale.test_flash_basics import bound_buyer, drain_all, make_sale
from tests.wallet.helpers import books_balanced, pay_wallet, top_up, wallet


def test_a_flash_sale_order_and_a_bargain_order_are_paid_from_the_wallet_and_refunded_back(
        app, client, admin, product, leader):
    admin.post("/admin/member-levels", json={"name": "普通会员", "min_growth": 0, "discount_percent": 30})
    sku = product["skus"][0]
    buyer = bound_buyer(client, "wallet-flash", leader[1]["pickup_point_id"])
    top_up(buyer, admin, 5000, 500)
    sale = make_sale(admin, sku["id"], stock=3, limit=2, price=990)
    res = buyer.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2}).get_json()["reservation_id"]
    assert drain_all(app) == 1
    flash_order_id = buyer.get(f"/flash-sales/reservations/{res}").get_json()["order_id"]
    r = pay_wallet(buyer, flash_order_id)
    assert r.status_code == 200, r.get_json()
    flash_order = r.get_json()["order"]
    assert (flash_order["status"], flash_order["total"], flash_order["member_discount"]) == ("paid", 1980, 0)

    bargain = make_bargain(admin, sku["id"])
    rec = buyer.post(f"/bargains/{bargain['id']}/start").get_json()
    bargain_order = buyer.post(f"/bargain-records/{rec['id']}/order", json={}).get_json()
    r = pay_wallet(buyer, bargain_order["id"])
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["order"]["total"], r.get_json()["order"]["member_discount"]) == (1990, 0)
    assert wallet(buyer)["balance"] == 5500 - 1980 - 1990

    for order_id in (flash_order_id, bargain_order["id"]):
        assert buyer.post(f"/orders/{order_id}/cancel").get_json()["status"] == "refunded"
    w = wallet(buyer)
    assert (w["principal"], w["bonus"]) == (5000, 500)
    assert books_balanced(app)
