"""Pickup codes: the database's unique key decides, and a collision draws again. Collisions are
forced (the drawer returns a taken code), so these tests fail if the unique key or the retry goes;
a random draw would collide once in a million tries."""
from __future__ import annotations

import threading
from datetime import date

import requests
from sqlalchemy import func
from sqlmodel import select

from app.commission.models import Commission
from app.db import transaction
from app.order import transitions as order_transitions
from tests.http_server import serving


def place(buyer, product, point):
    r = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                    "pickup_point_id": point["pickup_point_id"]})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def forced_drawer(monkeypatch, taken: str, times: int | None, then: str = "654321"):
    """Draw `taken` `times` times (always, if None), then `then`; count the draws."""
    draws = []

    def draw():
        draws.append(1)
        return taken if times is None or len(draws) <= times else then

    monkeypatch.setattr(order_transitions, "draw_pickup_code", draw)
    return draws


def test_a_colliding_pickup_code_is_drawn_again(monkeypatch, leader, product, buyer):
    first, second = place(buyer, product, leader[1]), place(buyer, product, leader[1])
    taken = buyer.post(f"/orders/{first['id']}/pay").get_json()["order"]["pickup_code"]
    draws = forced_drawer(monkeypatch, taken, times=3)

    r = buyer.post(f"/orders/{second['id']}/pay")

    assert r.status_code == 200 and r.get_json()["order"]["pickup_code"] == "654321"
    assert len(draws) == 4  # three collisions, each refused by the unique key, then a free code


def test_after_fifty_collisions_the_payment_is_refused_and_nothing_is_kept(app, monkeypatch, leader, product, buyer):
    first, second = place(buyer, product, leader[1]), place(buyer, product, leader[1])
    taken = buyer.post(f"/orders/{first['id']}/pay").get_json()["order"]["pickup_code"]
    draws = forced_drawer(monkeypatch, taken, times=None)

    r = buyer.post(f"/orders/{second['id']}/pay")

    assert r.status_code == 409 and r.get_json()["code"] == "pickup_code_unavailable", r.get_json()
    assert len(draws) == order_transitions.PICKUP_CODE_ATTEMPTS == 50
    got = buyer.get(f"/orders/{second['id']}").get_json()
    assert got["status"] == "pending_payment" and got["pickup_code"] is None


def test_two_devices_verifying_one_code_at_once_hand_the_order_over_once(app, leader, product, buyer):
    """Two leader devices scan the same code at the same moment: one hands over, the other is told
    it was picked up; one commission entry. On PostgreSQL truly concurrent; SQLite serialises."""
    leader_api, point = leader
    o = place(buyer, product, point)
    code = buyer.post(f"/orders/{o['id']}/pay").get_json()["order"]["pickup_code"]
    with app.app_context(), transaction() as s:
        order_transitions.ship_paid_orders(s, delivery_date=date.fromisoformat(o["delivery_date"]))
    assert leader_api.post(f"/leader/deliveries/{o['delivery_date']}/receive").status_code == 200

    answers = []
    start = threading.Barrier(2)
    with serving(app) as base:
        def scan():
            start.wait(10)
            r = requests.post(f"{base}/api/v1/leader/pickups", json={"pickup_code": code}, timeout=60,
                              headers={"Authorization": f"Bearer {leader_api.token}"})
            answers.append((r.status_code, r.json().get("code")))
        threads = [threading.Thread(target=scan) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sorted(answers, key=lambda a: a[0]) == [(200, None), (409, "invalid_state")], answers
    with app.app_context(), transaction() as s:
        assert s.exec(select(func.count(Commission.id)).where(Commission.order_id == o["id"])).one() == 1
