from datetime import datetime, time, timezone

import pytest
from sqlmodel import select

from app.config import Settings
from app.db import transaction
from app.order import rules as order_rules
from app.order import transitions as order_transitions
from app.order.models import Order
from tests.conftest import login, make_product


def order_body(product, point_id=None, qty=1):
    body = {"items": [{"sku_id": product["skus"][0]["id"], "qty": qty}]}
    if point_id:
        body["pickup_point_id"] = point_id
    return body


def stock_of(client, product):
    return client.get(f"/api/v1/products/{product['id']}").get_json()["skus"][0]["stock_available"]


@pytest.mark.parametrize("local, expected", [
    ("2026-11-22T08:00:00+08:00", "2026-11-23"),
    ("2026-11-22T22:59:59+08:00", "2026-11-23"),
    ("2026-11-22T23:00:00+08:00", "2026-11-24"),
    ("2026-11-22T23:59:00+08:00", "2026-11-24"),
    ("2026-11-22T16:30:00+00:00", "2026-11-24"),  # 00:30 on the 23rd in Shanghai
])
def test_the_delivery_date_follows_the_cutoff_in_the_business_time_zone(local, expected):
    settings = Settings(env="test", order_cutoff=time(23, 0), timezone="Asia/Shanghai")
    assert order_rules.delivery_date_for(datetime.fromisoformat(local), settings).isoformat() == expected


def test_an_order_takes_stock_and_dates_itself(client, leader, product, buyer):
    _, point = leader
    before = stock_of(client, product)
    r = buyer.post("/orders", json=order_body(product, point["pickup_point_id"], qty=3))
    assert r.status_code == 201
    o = r.get_json()
    assert o["status"] == "pending_payment" and o["pickup_code"] is None
    assert o["items"][0]["name"] == "麒麟西瓜 一个装约4斤" and o["total"] == 3 * 1990
    assert o["delivery_date"] and o["pay_before"] and o["pickup_point_id"] == point["pickup_point_id"]
    assert stock_of(client, product) == before - 3


def test_an_order_without_a_point_uses_the_bound_one_or_is_refused(client, leader, product, buyer):
    _, point = leader
    r = buyer.post("/orders", json=order_body(product))
    assert r.status_code == 422 and r.get_json()["code"] == "no_pickup_point"
    assert buyer.put("/me/pickup-point", json={"pickup_point_id": point["pickup_point_id"]}).status_code == 200
    r = buyer.post("/orders", json=order_body(product))
    assert r.status_code == 201 and r.get_json()["pickup_point_id"] == point["pickup_point_id"]


def test_ordering_more_than_the_stock_is_refused_and_takes_nothing(client, admin, leader, buyer):
    _, point = leader
    product = make_product(admin, skus=(("小份", 100, 2),))
    r = buyer.post("/orders", json=order_body(product, point["pickup_point_id"], qty=3))
    assert r.status_code == 409 and r.get_json()["code"] == "out_of_stock"
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert stock_of(client, product) == 2


def test_an_idempotency_key_replays_the_first_response_without_a_second_order(client, leader, product, buyer):
    _, point = leader
    body = order_body(product, point["pickup_point_id"], qty=2)
    first = buyer.post("/orders", json=body, headers={"Idempotency-Key": "k-1"})
    again = buyer.post("/orders", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert len(buyer.get("/orders").get_json()["items"]) == 1
    assert stock_of(client, product) == 100 - 2
    other = buyer.post("/orders", json=order_body(product, point["pickup_point_id"], qty=5),
                       headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_key_reused"
    # another user's identical key is theirs alone
    someone = login(client, "buyer-2")
    assert someone.post("/orders", json=body, headers={"Idempotency-Key": "k-1"}).get_json()["id"] != first.get_json()["id"]


def test_a_refused_request_is_replayed_too(client, admin, leader, buyer):
    _, point = leader
    product = make_product(admin, skus=(("小份", 100, 1),))
    body = order_body(product, point["pickup_point_id"], qty=2)
    r1 = buyer.post("/orders", json=body, headers={"Idempotency-Key": "k-2"})
    assert r1.status_code == 409
    admin.patch(f"/admin/skus/{product['skus'][0]['id']}", json={"stock": 10})
    r2 = buyer.post("/orders", json=body, headers={"Idempotency-Key": "k-2"})
    assert r2.status_code == 409 and r2.get_json() == r1.get_json()


def test_a_buyer_cancels_an_unpaid_order_and_the_stock_returns(client, leader, product, buyer):
    _, point = leader
    o = buyer.post("/orders", json=order_body(product, point["pickup_point_id"], qty=4)).get_json()
    r = buyer.post(f"/orders/{o['id']}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    assert stock_of(client, product) == 100
    r = buyer.post(f"/orders/{o['id']}/cancel")
    assert r.status_code == 409 and r.get_json()["code"] == "invalid_state"
    assert buyer.post(f"/orders/{o['id']}/pay").get_json()["code"] == "invalid_state"


def test_a_paid_order_cancelled_before_shipping_is_refunded(app, client, leader, product, buyer, drain):
    _, point = leader
    o = buyer.post("/orders", json=order_body(product, point["pickup_point_id"], qty=1)).get_json()
    assert buyer.post(f"/orders/{o['id']}/pay").get_json()["order"]["status"] == "paid"
    r = buyer.post(f"/orders/{o['id']}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "refunded"
    assert r.get_json()["pickup_code"] is None
    assert stock_of(client, product) == 100
    drain()
    from app.payment.models import Refund

    with app.app_context(), transaction() as s:
        refunds = s.exec(select(Refund)).all()
    assert [(r.status, r.amount) for r in refunds] == [("succeeded", 1990)]


def test_a_shipped_order_cannot_be_cancelled(app, client, leader, product, buyer):
    _, point = leader
    o = buyer.post("/orders", json=order_body(product, point["pickup_point_id"])).get_json()
    buyer.post(f"/orders/{o['id']}/pay")
    with app.app_context(), transaction() as s:
        from datetime import date

        assert order_transitions.ship_paid_orders(s, delivery_date=date.fromisoformat(o["delivery_date"])) == [o["id"]]
    r = buyer.post(f"/orders/{o['id']}/cancel")
    assert r.status_code == 409 and r.get_json()["code"] == "invalid_state"


def test_a_buyer_sees_only_their_own_orders(client, leader, product, buyer):
    _, point = leader
    o = buyer.post("/orders", json=order_body(product, point["pickup_point_id"])).get_json()
    other = login(client, "buyer-2")
    assert other.get(f"/orders/{o['id']}").status_code == 404
    assert other.post(f"/orders/{o['id']}/pay").status_code == 404
    assert other.post(f"/orders/{o['id']}/cancel").status_code == 404
    assert other.get("/orders").get_json()["items"] == []
    assert buyer.get(f"/orders/{o['id']}").get_json()["id"] == o["id"]


def test_order_lists_page_with_a_cursor_and_filter_by_status(client, leader, product, buyer):
    _, point = leader
    ids = [buyer.post("/orders", json=order_body(product, point["pickup_point_id"])).get_json()["id"] for _ in range(5)]
    buyer.post(f"/orders/{ids[0]}/pay")
    page1 = buyer.get("/orders?limit=2").get_json()
    page2 = buyer.get(f"/orders?limit=2&cursor={page1['next_cursor']}").get_json()
    page3 = buyer.get(f"/orders?limit=2&cursor={page2['next_cursor']}").get_json()
    seen = [o["id"] for p in (page1, page2, page3) for o in p["items"]]
    assert seen == sorted(ids, reverse=True) and page3["next_cursor"] is None
    assert [o["id"] for o in buyer.get("/orders?status=paid").get_json()["items"]] == [ids[0]]
    bad = buyer.get("/orders?cursor=not-a-cursor")
    assert bad.status_code == 422 and bad.get_json()["code"] == "validation_error"


def test_bad_input_gets_problems_never_500(client, buyer):
    r = buyer.post("/orders", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["code"] == "bad_request"
    r = buyer.post("/orders", json={"items": [{"sku_id": "x", "qty": 0}]})
    assert r.status_code == 422 and r.get_json()["code"] == "validation_error"
    assert r.get_json()["errors"] and all("loc" in e and "msg" in e for e in r.get_json()["errors"])
    r = buyer.post("/orders", json={"items": [{"sku_id": 999999, "qty": 1}], "pickup_point_id": 999999})
    assert r.status_code == 404
    assert client.get("/api/v1/orders").status_code == 401
    assert client.get("/api/v1/orders").get_json()["code"] == "unauthorized"


def test_old_idempotency_keys_are_purged(app, leader, product, buyer):
    from app.idempotency import purge_idempotency_keys_job

    body = order_body(product, leader[1]["pickup_point_id"])
    first = buyer.post("/orders", json=body, headers={"Idempotency-Key": "old"}).get_json()
    with app.app_context():
        assert purge_idempotency_keys_job() == 0
        assert purge_idempotency_keys_job(max_age_hours=-1) == 1
    assert buyer.post("/orders", json=body, headers={"Idempotency-Key": "old"}).get_json()["id"] != first["id"]
