"""A wallet-paid order comes back exactly, principal and bonus in the proportions they came out,
whichever path refunds it: a shortage then an operator's refund, a failed group, after-sales
style partial refunds; and growth and member levels follow picked-up orders."""
from __future__ import annotations

from sqlmodel import select

from app.db import transaction
from app.groupbuy.jobs import close_due_groups_job
from app.payment import service as payment_service
from app.payment.models import Refund
from tests.groupbuy.helpers import buyers, make_campaign, past_deadline
from tests.leader.test_workbench import ship
from tests.wallet.helpers import books_balanced, entries, pay_wallet, place, top_up, wallet


def test_a_shortage_then_an_operator_refund_give_back_exactly_what_came_out(app, admin, buyer, leader, product):
    top_up(buyer, admin, 5000, 1000)
    order = place(buyer, product, leader[1], qty=3)  # 5970: 5000 principal + 970 bonus
    assert pay_wallet(buyer, order["id"]).status_code == 200
    ship(app, order["delivery_date"])
    r = leader[0].post(f"/leader/deliveries/{order['delivery_date']}/shortages",
                       json={"lines": [{"sku_id": product["skus"][0]["id"], "missing_qty": 1}]})
    assert r.status_code == 200, r.get_json()
    assert [(x["order_id"], x["amount"]) for x in r.get_json()["refunds"]] == [(order["id"], 1990)]
    back = entries(app, buyer.user["id"])[-1]
    assert back[:2] == ("refund", 1990) and back[3] == 970 * 1990 // 5970  # bonus in proportion
    r = admin.post(f"/admin/orders/{order['id']}/refund", json={"reason": "after_sales"})
    assert r.status_code == 200, r.get_json()
    w = wallet(buyer)
    assert (w["principal"], w["bonus"]) == (5000, 1000)
    assert books_balanced(app)


def test_after_sales_partial_refunds_in_odd_parts_sum_to_exactly_what_was_paid(app, admin, buyer, leader, product):
    top_up(buyer, admin, 1000, 3000)
    order = place(buyer, product, leader[1], qty=1)  # 1990: 1000 principal + 990 bonus
    assert pay_wallet(buyer, order["id"]).status_code == 200
    with app.app_context(), transaction() as s:
        for i, part in enumerate((333, 333, 1, 1323)):
            payment_service.refund_amount(s, order_id=order["id"], amount=part, reason="after_sale",
                                          idempotency_ref=f"as:{i}")
        again = payment_service.refund_amount(s, order_id=order["id"], amount=333, reason="after_sale",
                                              idempotency_ref="as:0")
        assert again.amount == 333  # the same ref: the first refund, nothing more
        statuses = set(s.exec(select(Refund.status).where(Refund.order_id == order["id"])))
    assert statuses == {"succeeded"}
    w = wallet(buyer)
    assert (w["principal"], w["bonus"]) == (1000, 3000)
    assert books_balanced(app)


def test_a_failed_group_gives_a_wallet_paid_member_back_to_the_wallet(app, client, admin, leader, product):
    point = leader[1]["pickup_point_id"]
    campaign = make_campaign(admin, product["skus"][0]["id"])
    a, b = buyers(client, 2, point)
    top_up(a, admin, 2000, 500)
    opened = a.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()
    b.post(f"/groups/{opened['group']['id']}/join", json={})
    r = pay_wallet(a, opened["order"]["id"])
    assert r.status_code == 200, r.get_json()
    paid = r.get_json()["order"]
    assert paid["source"] == "group" and paid["member_discount"] == 0
    past_deadline(app, opened["group"]["id"])
    with app.app_context():
        close_due_groups_job()
    assert a.get(f"/orders/{opened['order']['id']}").get_json()["status"] == "refunded"
    w = wallet(a)
    assert (w["principal"], w["bonus"]) == (2000, 500)
    assert books_balanced(app)


def pick_up(app, leader_api, buyer, order):
    ship(app, order["delivery_date"])
    leader_api.post(f"/leader/deliveries/{order['delivery_date']}/receive")
    code = buyer.get(f"/orders/{order['id']}").get_json()["pickup_code"]
    r = leader_api.post("/leader/pickups", json={"pickup_code": code, "delivery_date": order["delivery_date"]})
    assert r.status_code == 200, r.get_json()


def test_growth_from_a_picked_up_order_raises_the_level_and_its_discount_applies_to_plain_orders(
        app, admin, buyer, leader, product):
    r = admin.post("/admin/member-levels", json={"name": "银卡", "min_growth": 19, "discount_percent": 10})
    assert r.status_code == 201, r.get_json()
    silver = r.get_json()
    assert admin.post("/admin/member-levels", json={"name": "重复", "min_growth": 19, "discount_percent": 5}
                      ).get_json()["code"] == "member_level_exists"
    first = place(buyer, product, leader[1])
    assert first["member_discount"] == 0 and first["total"] == 1990
    buyer.post(f"/orders/{first['id']}/pay")
    pick_up(app, leader[0], buyer, first)
    w = wallet(buyer)
    assert w["growth"] == 19 and w["level"] == silver
    second = place(buyer, product, leader[1], qty=2)
    assert (second["member_discount"], second["total"]) == (398, 3980 - 398)
    # Refunded after pickup: the growth goes, and with it the level.
    assert admin.post(f"/admin/orders/{first['id']}/refund", json={"reason": "after_sales"}).status_code == 200
    w = wallet(buyer)
    assert w["growth"] == 0 and w["level"] is None
    assert place(buyer, product, leader[1])["member_discount"] == 0


def test_a_member_discount_is_never_taken_off_a_group_price(app, client, admin, leader, product):
    admin.post("/admin/member-levels", json={"name": "普通会员", "min_growth": 0, "discount_percent": 30})
    point = leader[1]["pickup_point_id"]
    campaign = make_campaign(admin, product["skus"][0]["id"])
    [a] = buyers(client, 1, point)
    opened = a.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()
    assert opened["order"]["member_discount"] == 0
    plain = place(a, product, leader[1])
    assert plain["member_discount"] == 597 and plain["total"] == 1990 - 597
