from datetime import date, timedelta

import pytest
from sqlmodel import select

from app.db import transaction
from app.notify.models import Notification
from app.order import transitions as order_transitions
from tests.conftest import login, make_leader, make_product


def paid_order(buyer, product, point_id, qty=1, sku_index=0):
    o = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][sku_index]["id"], "qty": qty}],
                                    "pickup_point_id": point_id}).get_json()
    r = buyer.post(f"/orders/{o['id']}/pay")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["order"]


def ship(app, day: str):
    with app.app_context(), transaction() as s:
        return order_transitions.ship_paid_orders(s, delivery_date=date.fromisoformat(day))


@pytest.fixture
def two_points(client, admin):
    return make_leader(client, admin), make_leader(client, admin, lat=30.30, lng=120.10)


def test_a_leader_sees_only_orders_at_their_own_point(client, admin, two_points, buyer):
    (l1, p1), (l2, p2) = two_points
    product = make_product(admin)
    mine = paid_order(buyer, product, p1["pickup_point_id"])
    theirs = paid_order(buyer, product, p2["pickup_point_id"])
    rows = l1.get("/leader/orders").get_json()["items"]
    assert [o["id"] for o in rows] == [mine["id"]]
    assert rows[0]["buyer"]["nickname"] == "小邻居" and rows[0]["items"][0]["qty"] == 1
    assert "pickup_code" not in rows[0]
    assert [o["id"] for o in l2.get("/leader/orders").get_json()["items"]] == [theirs["id"]]
    filtered = l1.get(f"/leader/orders?delivery_date={mine['delivery_date']}&status=paid").get_json()["items"]
    assert [o["id"] for o in filtered] == [mine["id"]]
    assert l1.get("/leader/orders?status=arrived").get_json()["items"] == []
    assert buyer.get("/leader/orders").status_code == 403


def test_the_summary_adds_up_quantities_and_expected_commission(client, admin, leader, buyer):
    leader_api, point = leader
    product = make_product(admin, skus=(("一个装", 1000, 50), ("两个装", 1800, 50)))
    a = paid_order(buyer, product, point["pickup_point_id"], qty=2)
    paid_order(login(client, "b2"), product, point["pickup_point_id"], qty=1, sku_index=1)
    unpaid = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 5}],
                                         "pickup_point_id": point["pickup_point_id"]})
    assert unpaid.status_code == 201
    s = leader_api.get(f"/leader/summary?delivery_date={a['delivery_date']}").get_json()
    assert s["order_count"] == 2
    assert s["lines"] == [{"sku_id": product["skus"][0]["id"], "name": "麒麟西瓜 一个装", "qty": 2},
                          {"sku_id": product["skus"][1]["id"], "name": "麒麟西瓜 两个装", "qty": 1}]
    assert s["commission_expected"] == round((2000 + 1800) * 0.10)


def test_receiving_a_delivery_marks_shipped_orders_arrived_and_tells_buyers(app, client, admin, leader, product, buyer,
                                                                           drain):
    leader_api, point = leader
    o = paid_order(buyer, product, point["pickup_point_id"])
    day = o["delivery_date"]
    assert leader_api.post(f"/leader/deliveries/{day}/receive").get_json() == {"arrived": 0}  # nothing shipped yet
    assert ship(app, day) == [o["id"]]
    assert ship(app, day) == []  # shipping again ships nothing twice
    drain()  # the buyers of shipped orders are told by a job after the shipping run commits
    assert leader_api.post(f"/leader/deliveries/{day}/receive").get_json() == {"arrived": 1}
    assert leader_api.post(f"/leader/deliveries/{day}/receive").get_json() == {"arrived": 0}
    assert buyer.get(f"/orders/{o['id']}").get_json()["status"] == "arrived"
    with app.app_context(), transaction() as s:
        events = s.exec(select(Notification).where(Notification.user_id == buyer.user["id"])).all()
    # told once per change, by the order domain itself (chat hooks): paid, shipped, arrived
    assert [(n.event, n.data["status"]) for n in events] == [("order.updated", s) for s in ("paid", "shipped", "arrived")]
    assert leader_api.post("/leader/deliveries/not-a-date/receive").status_code == 422


def test_pickup_verification_hands_over_once_and_only_at_the_right_point(app, client, admin, two_points, buyer):
    (l1, p1), (l2, _) = two_points
    product = make_product(admin)
    o = paid_order(buyer, product, p1["pickup_point_id"])
    code, day = o["pickup_code"], o["delivery_date"]
    r = l1.post("/leader/pickups", json={"pickup_code": code, "delivery_date": day})
    assert r.status_code == 409 and r.get_json()["code"] == "invalid_state"  # not arrived yet
    ship(app, day)
    l1.post(f"/leader/deliveries/{day}/receive")
    r = l2.post("/leader/pickups", json={"pickup_code": code, "delivery_date": day})
    assert r.status_code == 404 and r.get_json()["code"] == "unknown_code"
    r = l1.post("/leader/pickups", json={"pickup_code": code})
    assert r.status_code == 200 and r.get_json()["status"] == "picked_up" and r.get_json()["id"] == o["id"]
    r = l1.post("/leader/pickups", json={"pickup_code": code, "delivery_date": day})
    assert r.status_code == 409 and r.get_json()["code"] == "invalid_state"
    wrong = "000000" if code != "000000" else "000001"
    assert l1.post("/leader/pickups", json={"pickup_code": wrong}).get_json()["code"] == "unknown_code"
    assert l1.post("/leader/pickups", json={"pickup_code": "12ab"}).status_code == 422


def test_pickup_codes_are_unique_per_point_and_date(app, client, admin, leader):
    _, point = leader
    product = make_product(admin, skus=(("x", 100, 1000),))
    codes = [paid_order(login(client, f"u{i}"), product, point["pickup_point_id"])["pickup_code"] for i in range(30)]
    assert len(set(codes)) == 30 and all(len(c) == 6 and c.isdigit() for c in codes)
