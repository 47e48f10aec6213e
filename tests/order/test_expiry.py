import time

import pytest
from rq import Queue

from app.order.jobs import expire_order_job, expire_overdue_orders_job


@pytest.fixture
def settings_overrides():
    return {"payment_timeout_s": 1}


def place(buyer, product, point, qty=2):
    r = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": qty}],
                                    "pickup_point_id": point["pickup_point_id"]})
    assert r.status_code == 201
    return r.get_json()


def stock_of(client, product):
    return client.get(f"/api/v1/products/{product['id']}").get_json()["skus"][0]["stock_available"]


def test_an_unpaid_order_expires_through_its_scheduled_job_and_returns_stock(app, client, leader, product, buyer, drain):
    o = place(buyer, product, leader[1])
    queue = Queue(app.extensions["linli.settings"].queue_name, connection=app.extensions["linli.redis"])
    assert f"expire-order-{o['id']}" in queue.scheduled_job_registry.get_job_ids()
    time.sleep(1.2)  # RQ's own scheduler runs on the wall clock: this one test waits for it
    drain()
    got = buyer.get(f"/orders/{o['id']}").get_json()
    assert got["status"] == "cancelled"
    assert stock_of(client, product) == 100
    with app.app_context():
        assert expire_order_job(o["id"]) is False  # a second run changes nothing
    assert stock_of(client, product) == 100


def test_the_sweep_catches_an_expiry_whose_job_was_lost(app, client, leader, product, buyer, clock):
    o = place(buyer, product, leader[1])
    app.extensions["linli.redis"].flushall()  # the timer job is gone
    clock.advance(1.2)
    with app.app_context():
        assert expire_overdue_orders_job() == 1
        assert expire_overdue_orders_job() == 0
    assert buyer.get(f"/orders/{o['id']}").get_json()["status"] == "cancelled"
    assert stock_of(client, product) == 100


def test_a_paid_order_is_not_expired(app, client, leader, product, buyer, drain, clock):
    o = place(buyer, product, leader[1])
    assert buyer.post(f"/orders/{o['id']}/pay").status_code == 200
    clock.advance(1.2)
    drain()
    with app.app_context():
        assert expire_overdue_orders_job() == 0
    assert buyer.get(f"/orders/{o['id']}").get_json()["status"] == "paid"
    assert stock_of(client, product) == 98


def test_paying_after_the_deadline_is_refused_and_cancels(app, client, leader, product, buyer, clock):
    o = place(buyer, product, leader[1])
    clock.advance(1.2)
    r = buyer.post(f"/orders/{o['id']}/pay")
    assert r.status_code == 409 and r.get_json()["code"] == "payment_expired"
    assert buyer.get(f"/orders/{o['id']}").get_json()["status"] == "cancelled"
    assert stock_of(client, product) == 100
