"""The unpaid-order sweep is set-based (a big sale's backlog clears in seconds), and a Redis
outage never turns a committed order into a 500: the sweep covers the timer job it lost."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import func, insert
from sqlmodel import select

from app import create_app
from app.catalog.models import Sku
from app.db import transaction, utcnow
from app.order.jobs import expire_overdue_orders_job
from app.order.models import Order, OrderItem
from app.pickup.models import PickupPoint
from tests.conftest import make_product
from tests.services import free_port

BACKLOG = 10_000


@pytest.fixture
def settings_overrides():
    return {"payment_timeout_s": 1}


def test_the_sweep_clears_ten_thousand_overdue_orders_and_returns_every_unit(app, admin, leader, buyer):
    product = make_product(admin, skus=(("大份", 500, 50_000), ("小份", 300, 50_000)))
    sku_a, sku_b = (s["id"] for s in product["skus"])
    _, point = leader
    past = utcnow() - timedelta(minutes=1)
    with app.app_context(), transaction() as s:  # bulk inserts: the setup stays fast
        leader_id = s.get(PickupPoint, point["pickup_point_id"]).leader_id
        first = (s.exec(select(func.max(Order.id))).one() or 0) + 1
        ids = range(first, first + BACKLOG)
        s.execute(insert(Order), [dict(id=i, buyer_id=buyer.user["id"], pickup_point_id=point["pickup_point_id"],
                                       leader_id=leader_id, status="pending_payment", source="plain", total=1100,
                                       pay_before=past, created_at=past) for i in ids])
        s.execute(insert(OrderItem), [dict(order_id=i, sku_id=sku, product_name="p", sku_name="s", qty=qty,
                                           unit_price=100, amount=100 * qty)
                                      for i in ids for sku, qty in ((sku_a, 1 + i % 3), (sku_b, 2))])
        taken_a = sum(1 + i % 3 for i in ids)
        s.execute(Sku.__table__.update().where(Sku.id == sku_a).values(stock=50_000 - taken_a))
        s.execute(Sku.__table__.update().where(Sku.id == sku_b).values(stock=50_000 - 2 * BACKLOG))
    if app.extensions["linli.settings"].database_url.startswith("postgresql"):
        with app.app_context(), transaction() as s:  # explicit ids: move the sequence past them
            s.exec(select(func.setval("orders_id_seq", first + BACKLOG)))

    started = time.perf_counter()
    with app.app_context():
        assert expire_overdue_orders_job() == BACKLOG
    elapsed = time.perf_counter() - started
    print(f"\nsweep: {BACKLOG} overdue orders cancelled in {elapsed:.2f} s "
          f"({app.extensions['linli.settings'].database_url.split(':')[0]})")

    with app.app_context(), transaction() as s:
        assert s.exec(select(func.count(Order.id)).where(Order.status == "pending_payment")).one() == 0
        assert s.exec(select(func.count(Order.id)).where(Order.status == "cancelled",
                                                         Order.cancel_reason == "payment_timeout")).one() == BACKLOG
        assert s.get(Sku, sku_a).stock == 50_000 and s.get(Sku, sku_b).stock == 50_000
    with app.app_context():
        assert expire_overdue_orders_job() == 0  # safe to run twice


def test_an_order_placed_while_redis_is_down_is_201_and_still_expires_on_time(app, client, leader, product, buyer):
    """The app below talks to a Redis port nothing listens on; its database is the suite's own.
    The order commits, so the answer is 201 (the lost expiry timer is logged, not raised), and
    with Redis back the periodic sweep cancels it on time and returns the stock."""
    settings = app.extensions["linli.settings"].model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    down = create_app(settings)
    down.config["TESTING"] = True
    try:
        r = down.test_client().post("/api/v1/orders", headers=buyer.headers, json={
            "items": [{"sku_id": product["skus"][0]["id"], "qty": 2}], "pickup_point_id": leader[1]["pickup_point_id"]})
    finally:
        down.extensions["linli.engine"].dispose()
    assert r.status_code == 201, r.get_data(as_text=True)
    order_id = r.get_json()["id"]
    queue = Queue(app.extensions["linli.settings"].queue_name, connection=app.extensions["linli.redis"])
    assert f"expire-order-{order_id}" not in queue.scheduled_job_registry.get_job_ids()
    assert buyer.get(f"/orders/{order_id}").get_json()["status"] == "pending_payment"

    time.sleep(1.2)
    with app.app_context():
        assert expire_overdue_orders_job() == 1
    assert buyer.get(f"/orders/{order_id}").get_json()["status"] == "cancelled"
    assert client.get(f"/api/v1/products/{product['id']}").get_json()["skus"][0]["stock_available"] == 100
