"""One buyer cannot hold a SKU's stock: a per-SKU cap per order (after merging repeated lines)
and a cap on unpaid orders held at once, exact under concurrency."""
import threading

import pytest
import requests
from sqlalchemy import func
from sqlmodel import select

from app.db import transaction
from app.order.models import Order
from tests.http_server import serving


@pytest.fixture
def settings_overrides():
    return {"max_qty_per_sku": 5, "max_unpaid_orders": 3}


def body(product, point, *qtys):
    return {"items": [{"sku_id": product["skus"][0]["id"], "qty": q} for q in qtys],
            "pickup_point_id": point["pickup_point_id"]}


def stock_of(client, product):
    return client.get(f"/api/v1/products/{product['id']}").get_json()["skus"][0]["stock_available"]


def test_repeating_a_sku_in_several_lines_does_not_get_round_the_per_sku_cap(client, leader, product, buyer):
    r = buyer.post("/orders", json=body(product, leader[1], 3, 3))
    assert r.status_code == 409 and r.get_json()["code"] == "qty_limit_exceeded", r.get_json()
    assert stock_of(client, product) == 100
    r = buyer.post("/orders", json=body(product, leader[1], 2, 3))
    assert r.status_code == 201 and r.get_json()["items"][0]["qty"] == 5


def test_a_buyer_cannot_hold_more_unpaid_orders_than_the_cap(client, leader, product, buyer):
    ids = [buyer.post("/orders", json=body(product, leader[1], 1)).get_json()["id"] for _ in range(3)]
    r = buyer.post("/orders", json=body(product, leader[1], 1))
    assert r.status_code == 409 and r.get_json()["code"] == "too_many_unpaid_orders"
    assert stock_of(client, product) == 97
    # Paying (or cancelling) one frees a place.
    assert buyer.post(f"/orders/{ids[0]}/pay").status_code == 200
    assert buyer.post("/orders", json=body(product, leader[1], 1)).status_code == 201


def test_many_requests_of_one_buyer_at_once_never_exceed_the_unpaid_cap(app, client, leader, product, buyer):
    """20 threads of one buyer order at once. On PostgreSQL the buyer's row lock serialises them
    (a count-then-insert would let several pass); SQLite serialises writers anyway."""
    results = []
    start = threading.Barrier(20)
    with serving(app) as base:
        def go():
            start.wait(10)
            r = requests.post(f"{base}/api/v1/orders", json=body(product, leader[1], 1), timeout=60,
                              headers={"Authorization": f"Bearer {buyer.token}"})
            results.append((r.status_code, r.json().get("code")))
        threads = [threading.Thread(target=go) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
    assert len(results) == 20
    assert sorted(s for s, _ in results).count(201) == 3, results
    assert {c for s, c in results if s != 201} == {"too_many_unpaid_orders"}
    with app.app_context(), transaction() as s:
        assert s.exec(select(func.count(Order.id)).where(Order.status == "pending_payment")).one() == 3
    assert stock_of(client, product) == 97
