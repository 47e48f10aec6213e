"""Points: spent at checkout within the ratio and the balance, given back once when the order is
cancelled, expired or refunded; a sharer's reward on pickup, reversed on refund; a balance that
never goes below zero under concurrency."""
from __future__ import annotations

from datetime import timedelta

import requests
from sqlalchemy import func
from sqlmodel import select

from app.db import transaction, utcnow
from app.order import queries as order_queries
from app.order import transitions as order_transitions
from app.order.models import Order
from app.points import service as points_service
from app.points.models import PointAccount, PointEntry
from app.share import reactions as share_reactions
from tests.concurrency import run_together
from tests.conftest import login, make_product
from tests.http_server import serving
from tests.leader.test_workbench import ship
from tests.share.helpers import bound, give_points, open_, order, share


def _balance(api) -> int:
    return api.get("/me/points").get_json()["balance"]


def test_points_pay_part_of_an_order_within_the_ratio_and_the_balance(app, client, leader, product):
    _, point = leader
    buyer = bound(client, "buyer", point["pickup_point_id"])
    sku_id = product["skus"][0]["id"]  # 1990 fen
    give_points(app, buyer.user["id"], 1200)
    r = order(buyer, sku_id, points_to_use=996)  # 0.5 × 1990 = 995
    assert r.status_code == 422 and r.get_json()["code"] == "points_over_limit", r.get_json()
    r = order(buyer, sku_id, points_to_use=995)
    assert r.status_code == 201, r.get_json()
    got = r.get_json()
    assert (got["total"], got["points_used"]) == (995, 995)
    assert _balance(buyer) == 205
    r = order(buyer, sku_id, points_to_use=206)
    assert r.status_code == 409 and r.get_json()["code"] == "insufficient_points"
    assert _balance(buyer) == 205
    r = order(buyer, sku_id, points_to_use=-1)
    assert r.status_code == 422 and r.get_json()["code"] == "validation_error"
    paid = buyer.post(f"/orders/{got['id']}/pay").get_json()["order"]
    assert paid["status"] == "paid" and paid["total"] == 995
    items = buyer.get("/me/points").get_json()["items"]
    assert [(i["amount"], i["reason"], i["order_id"]) for i in items] == [
        (-995, "order_spend", got["id"]), (1200, "test_grant", None)]


def test_points_come_back_once_when_an_order_is_cancelled_expired_or_refunded(app, client, leader, product):
    _, point = leader
    buyer = bound(client, "buyer", point["pickup_point_id"])
    sku_id = product["skus"][0]["id"]
    give_points(app, buyer.user["id"], 900)
    a = order(buyer, sku_id, points_to_use=300).get_json()
    b = order(buyer, sku_id, points_to_use=300).get_json()
    c = order(buyer, sku_id, points_to_use=300).get_json()
    assert _balance(buyer) == 0
    assert buyer.post(f"/orders/{a['id']}/cancel").status_code == 200
    assert _balance(buyer) == 300
    later = utcnow() + timedelta(hours=1)
    with app.app_context(), transaction() as s:  # b and c expire
        assert order_transitions.expire_overdue_batch(s, now=later) == 2
    with app.app_context(), transaction() as s:  # and nothing expires twice
        assert order_transitions.expire_overdue_batch(s, now=later) == 0
    assert _balance(buyer) == 900
    assert buyer.post(f"/orders/{a['id']}/cancel").status_code == 409
    assert _balance(buyer) == 900
    with app.app_context(), transaction() as s:
        backs = s.exec(select(func.count(PointEntry.id)).where(PointEntry.reason == "points_back")).one()
        assert backs == 3
        assert {o.status for o in s.exec(select(Order).where(Order.id.in_([b["id"], c["id"]])))} == {"cancelled"}


def test_a_paid_order_refunded_gives_its_points_back_and_its_money_only_what_was_paid(app, client, leader, product):
    _, point = leader
    buyer = bound(client, "buyer", point["pickup_point_id"])
    give_points(app, buyer.user["id"], 500)
    o = order(buyer, product["skus"][0]["id"], points_to_use=500).get_json()
    buyer.post(f"/orders/{o['id']}/pay")
    r = buyer.post(f"/orders/{o['id']}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "refunded"
    assert _balance(buyer) == 500
    from app.payment.models import Refund
    with app.app_context(), transaction() as s:
        (refund,) = s.exec(select(Refund).where(Refund.order_id == o["id"])).all()
        assert refund.amount == 1490  # the money paid, not the goods' 1990


def test_a_shortage_on_an_order_partly_paid_in_points_refunds_money_in_proportion(app, client, leader, admin):
    leader_api, point = leader
    product = make_product(admin, skus=(("一斤", 1000, 100),))
    buyer = bound(client, "buyer", point["pickup_point_id"])
    give_points(app, buyer.user["id"], 1000)
    o = order(buyer, product["skus"][0]["id"], qty=2, points_to_use=1000).get_json()  # 2000 goods: 1000 + 1000
    o = buyer.post(f"/orders/{o['id']}/pay").get_json()["order"]
    ship(app, o["delivery_date"])
    r = leader_api.post(f"/leader/deliveries/{o['delivery_date']}/shortages",
                        json={"lines": [{"sku_id": product["skus"][0]["id"], "missing_qty": 1}]})
    assert r.status_code == 200, r.get_json()
    assert [(x["order_id"], x["amount"]) for x in r.get_json()["refunds"]] == [(o["id"], 500)]
    assert _balance(buyer) == 500
    # The second unit: the order has nothing left and is refunded; money and points end exactly whole.
    r = leader_api.post(f"/leader/deliveries/{o['delivery_date']}/shortages",
                        json={"lines": [{"sku_id": product["skus"][0]["id"], "missing_qty": 2}]})
    assert r.status_code == 200 and r.get_json()["refunds"][0]["amount"] == 500
    assert _balance(buyer) == 1000
    from app.payment.models import Payment
    with app.app_context(), transaction() as s:
        payment = s.exec(select(Payment).where(Payment.order_id == o["id"])).one()
        assert (payment.amount, payment.refunded_amount) == (1000, 1000)


def test_a_shortage_worth_less_than_a_fen_of_money_comes_back_as_points_alone(app, client, leader, admin):
    leader_api, point = leader
    product = make_product(admin, skus=(("一粒", 1, 100),))
    buyer = bound(client, "buyer", point["pickup_point_id"])
    give_points(app, buyer.user["id"], 1)
    o = order(buyer, product["skus"][0]["id"], qty=2, points_to_use=1).get_json()  # goods 2: 1 fen + 1 point
    o = buyer.post(f"/orders/{o['id']}/pay").get_json()["order"]
    ship(app, o["delivery_date"])
    day, sku_id = o["delivery_date"], product["skus"][0]["id"]
    r = leader_api.post(f"/leader/deliveries/{day}/shortages", json={"lines": [{"sku_id": sku_id, "missing_qty": 1}]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["refunds"][0]["amount"] == 0 and _balance(buyer) == 1
    r = leader_api.post(f"/leader/deliveries/{day}/shortages", json={"lines": [{"sku_id": sku_id, "missing_qty": 2}]})
    assert r.status_code == 200 and r.get_json()["refunds"][0]["amount"] == 1
    assert _balance(buyer) == 1
    assert buyer.get(f"/orders/{o['id']}").get_json()["status"] == "refunded"


def _picked_up(app, leader_api, buyer, sku_id, **extra):
    o = order(buyer, sku_id, **extra).get_json()
    o = buyer.post(f"/orders/{o['id']}/pay").get_json()["order"]
    ship(app, o["delivery_date"])
    leader_api.post(f"/leader/deliveries/{o['delivery_date']}/receive")
    r = leader_api.post("/leader/pickups", json={"pickup_code": o["pickup_code"], "delivery_date": o["delivery_date"]})
    assert r.status_code == 200, r.get_json()
    return o


def test_the_sharer_earns_on_pickup_and_loses_it_on_refund(app, client, admin, leader, product):
    leader_api, point = leader
    sharer = bound(client, "sharer", point["pickup_point_id"])
    token = share(sharer, "product", product["id"])["token"]
    buyer = login(client, "visitor")
    open_(buyer, token)
    o = _picked_up(app, leader_api, buyer, product["skus"][0]["id"], qty=3)  # 5970 fen
    assert o["share_token"] == token
    assert _balance(sharer) == 119  # floor(0.02 × 5970)
    (mine,) = sharer.get("/me/shares").get_json()["items"]
    assert (mine["visits"], mine["orders"], mine["points_earned"]) == (1, 1, 119)
    r = admin.post(f"/admin/orders/{o['id']}/refund", json={"reason": "after_sales"})
    assert r.status_code == 200, r.get_json()
    assert _balance(sharer) == 0
    (mine,) = sharer.get("/me/shares").get_json()["items"]
    assert (mine["orders"], mine["points_earned"]) == (0, 0)
    assert [(i["amount"], i["reason"]) for i in sharer.get("/me/points").get_json()["items"]] == [
        (-119, "reward_reversed"), (119, "share_reward")]


def test_a_reward_already_spent_is_reversed_only_as_far_as_the_balance_goes(app, client, admin, leader, product):
    leader_api, point = leader
    sharer = bound(client, "sharer", point["pickup_point_id"])
    token = share(sharer, "product", product["id"])["token"]
    buyer = login(client, "visitor")
    open_(buyer, token)
    o = _picked_up(app, leader_api, buyer, product["skus"][0]["id"], qty=3)
    assert _balance(sharer) == 119
    spent = order(sharer, product["skus"][0]["id"], points_to_use=100)
    assert spent.status_code == 201, spent.get_json()
    assert admin.post(f"/admin/orders/{o['id']}/refund", json={"reason": "after_sales"}).status_code == 200
    # Clamped: 19 points were left, 19 are taken back, and the balance stays at zero.
    assert _balance(sharer) == 0
    items = sharer.get("/me/points").get_json()["items"]
    assert (items[0]["amount"], items[0]["reason"]) == (-19, "reward_reversed")
    # Refund hooks run again (a retried transaction) take nothing more.
    with app.app_context(), transaction() as s:
        share_reactions.reverse_reward(s, order_queries.get_order(s, o["id"]))
        assert s.get(PointAccount, sharer.user["id"]).balance == 0


def test_concurrent_orders_spending_points_never_overdraw_the_balance(app, client, leader, product):
    """Eight checkouts at once, each spending 30 of 100 points: at most three can. Over HTTP with
    real threads; on PostgreSQL they race for the balance row (SQLite serialises writers)."""
    _, point = leader
    buyer = bound(client, "spender", point["pickup_point_id"])
    give_points(app, buyer.user["id"], 100)
    body = {"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}], "points_to_use": 30}
    with serving(app) as base:
        results = run_together(8, lambda i: requests.post(f"{base}/api/v1/orders", json=body, headers=buyer.headers,
                                                          timeout=60))
    answers = sorted((r.status_code, r.json().get("code")) for r in results)
    assert answers == [(201, None)] * 3 + [(409, "insufficient_points")] * 5, answers
    with app.app_context(), transaction() as s:
        assert s.get(PointAccount, buyer.user["id"]).balance == 10
        used = s.exec(select(func.sum(Order.points_used)).where(Order.buyer_id == buyer.user["id"])).one()
        assert used == 90
        assert points_service.balance_of(s, user_id=buyer.user["id"]) == 100 + s.exec(
            select(func.sum(PointEntry.amount)).where(PointEntry.user_id == buyer.user["id"],
                                                      PointEntry.reason != "test_grant")).one()
