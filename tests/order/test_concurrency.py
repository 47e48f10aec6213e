import threading

import requests
from sqlalchemy import func
from sqlmodel import select

from app.catalog.models import Sku
from app.db import transaction
from app.order.models import Order, OrderItem
from tests.conftest import login, make_product
from tests.http_server import serving


def test_fifty_buyers_racing_for_the_last_ten_units_leave_exactly_ten_orders(app, client, admin, leader):
    _, point = leader
    product = make_product(admin, skus=(("最后十个", 990, 10),))
    sku_id = product["skus"][0]["id"]
    tokens = [login(client, f"racer-{i}").token for i in range(50)]
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    with serving(app) as base:
        def buy(token):
            start.wait(10)
            r = requests.post(f"{base}/api/v1/orders", timeout=60, headers={"Authorization": f"Bearer {token}"},
                              json={"items": [{"sku_id": sku_id, "qty": 1}], "pickup_point_id": point["pickup_point_id"]})
            with lock:
                results.append((r.status_code, r.json().get("code")))

        threads = [threading.Thread(target=buy, args=(t,)) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)

    statuses = sorted(s for s, _ in results)
    assert len(results) == 50
    assert statuses.count(201) == 10, results
    assert all(code == "out_of_stock" for s, code in results if s != 201)
    with app.app_context(), transaction() as s:
        assert s.get(Sku, sku_id).stock == 0
        sold = s.exec(select(func.sum(OrderItem.qty)).where(OrderItem.sku_id == sku_id)).one()
        assert sold == 10
        assert s.exec(select(func.count(Order.id))).one() == 10


def test_concurrent_requests_with_one_idempotency_key_make_one_order(app, client, leader, product):
    _, point = leader
    buyer = login(client, "impatient")
    body = {"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}], "pickup_point_id": point["pickup_point_id"]}
    answers = []
    start = threading.Barrier(8)
    with serving(app) as base:
        def go():
            start.wait(10)
            r = requests.post(f"{base}/api/v1/orders", json=body, timeout=60,
                              headers={"Authorization": f"Bearer {buyer.token}", "Idempotency-Key": "tap-tap-tap"})
            answers.append((r.status_code, r.json().get("id")))
        threads = [threading.Thread(target=go) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert {a for a in answers} == {(201, answers[0][1])}
    with app.app_context(), transaction() as s:
        assert s.exec(select(func.count(Order.id))).one() == 1
        assert s.get(Sku, product["skus"][0]["id"]).stock == 99
