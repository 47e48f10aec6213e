"""Flash sales in-process: stock carved from the SKU, purchase refusals, drain into orders,
expiry returning units, late payment refunded, reconcile after Redis loses its data."""
from __future__ import annotations

from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import update
from sqlmodel import select

from app.db import transaction, utcnow
from app.flashsale import flows as flash_flows
from app.flashsale import service as flash
from app.flashsale.models import FlashSale
from app.order.models import Order
from tests.conftest import login


def iso(dt):
    return dt.isoformat()


def make_sale(admin, sku_id, *, stock=5, limit=2, price=990, starts=-60, ends=3600):
    now = utcnow()
    r = admin.post("/admin/flash-sales", json={"sku_id": sku_id, "price": price, "stock": stock,
                                               "starts_at": iso(now + timedelta(seconds=starts)),
                                               "ends_at": iso(now + timedelta(seconds=ends)), "per_user_limit": limit})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def bound_buyer(client, openid, point_id):
    b = login(client, openid)
    assert b.put("/me/pickup-point", json={"pickup_point_id": point_id}).status_code == 200
    return b


def drain_all(app):
    with app.app_context():
        return sum(flash_flows.drain_sale(i, min_idle_ms=0) for i in flash_flows.live_sale_ids())


def test_creating_a_sale_takes_its_stock_from_the_sku_and_refuses_more_than_there_is(admin, product, client):
    sku = product["skus"][0]
    sale = make_sale(admin, sku["id"], stock=60)
    assert sale["stock_left"] == 60
    assert client.get(f"/api/v1/products/{product['id']}").get_json()["skus"][0]["stock_available"] == 40
    now = utcnow()
    r = admin.post("/admin/flash-sales", json={"sku_id": sku["id"], "price": 1, "stock": 41,
                                               "starts_at": iso(now), "ends_at": iso(now + timedelta(hours=1)),
                                               "per_user_limit": 1})
    assert r.status_code == 409 and r.get_json()["code"] == "out_of_stock"
    listed = client.get("/api/v1/flash-sales?status=active").get_json()["items"]
    assert [s["id"] for s in listed] == [sale["id"]]
    assert client.get("/api/v1/flash-sales?status=upcoming").get_json()["items"] == []


def test_purchase_refusals_carry_their_codes_and_a_reservation_becomes_one_order(app, admin, product, leader, client):
    sku = product["skus"][0]
    point_id = leader[1]["pickup_point_id"]
    sale = make_sale(admin, sku["id"], stock=3, limit=2)
    later = make_sale(admin, sku["id"], starts=600)
    a, b = bound_buyer(client, "fa", point_id), bound_buyer(client, "fb", point_id)
    r = a.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2}, headers={"Idempotency-Key": "k1"})
    assert r.status_code == 202, r.get_json()
    res_id = r.get_json()["reservation_id"]
    again = a.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2}, headers={"Idempotency-Key": "k1"})
    assert again.status_code == 202 and again.get_json()["reservation_id"] == res_id
    assert a.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).get_json()["code"] == "limit_exceeded"
    assert b.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2}).get_json()["code"] == "sold_out"
    assert b.post(f"/flash-sales/{later['id']}/purchase", json={"qty": 1}).get_json()["code"] == "not_started"
    assert a.get(f"/flash-sales/reservations/{res_id}").get_json() == {"status": "pending", "order_id": None,
                                                                       "reason": None}
    assert b.get(f"/flash-sales/reservations/{res_id}").status_code == 404
    assert drain_all(app) == 1
    assert drain_all(app) == 0
    got = a.get(f"/flash-sales/reservations/{res_id}").get_json()
    assert got["status"] == "confirmed"
    order = a.get(f"/orders/{got['order_id']}").get_json()
    assert (order["status"], order["total"], order["source"], order["source_ref"]) == (
        "pending_payment", 2 * 990, "flash_sale", res_id)
    stats = admin.get(f"/admin/flash-sales/{sale['id']}").get_json()
    assert (stats["stock_left"], stats["reserved"], stats["confirmed"]) == (1, 2, 2)


def test_a_purchase_without_a_pickup_point_is_refused_at_once_and_takes_nothing(app, admin, product, client):
    """Like POST /orders: no pickup_point_id and none bound is a 422 now, not a 202 whose
    reservation fails in the drain a while later."""
    sale = make_sale(admin, product["skus"][0]["id"], stock=2)
    nobody = login(client, "no-point")
    r = nobody.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2})
    assert r.status_code == 422 and r.get_json()["code"] == "no_pickup_point"
    assert client.get("/api/v1/flash-sales").get_json()["items"][0]["stock_left"] == 2


def test_a_reservation_whose_pickup_point_is_gone_fails_and_gives_its_units_back(app, admin, product, client):
    """A point named in the body is checked by the drain (it may close meanwhile)."""
    sale = make_sale(admin, product["skus"][0]["id"], stock=2)
    nobody = login(client, "no-such-point")
    res_id = nobody.post(f"/flash-sales/{sale['id']}/purchase",
                         json={"qty": 2, "pickup_point_id": 999_999}).get_json()["reservation_id"]
    drain_all(app)
    assert nobody.get(f"/flash-sales/reservations/{res_id}").get_json()["reason"] == "pickup_point_unavailable"
    assert client.get("/api/v1/flash-sales").get_json()["items"][0]["stock_left"] == 2


def test_an_expired_flash_order_returns_its_units_and_a_late_payment_is_refunded(app, admin, product, leader, client,
                                                                                  drain):
    sale = make_sale(admin, product["skus"][0]["id"], stock=2, limit=2)
    a = bound_buyer(client, "late", leader[1]["pickup_point_id"])
    res_id = a.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2}).get_json()["reservation_id"]
    drain_all(app)
    order_id = a.get(f"/flash-sales/reservations/{res_id}").get_json()["order_id"]
    order = a.get(f"/orders/{order_id}").get_json()
    from datetime import datetime
    pay_before = datetime.fromisoformat(order["pay_before"].replace("Z", "+00:00"))
    assert 290 <= (pay_before - utcnow()).total_seconds() <= 300  # the flash timeout, not the plain one
    with app.app_context():
        with transaction() as s:
            s.exec(update(Order).where(Order.id == order_id).values(pay_before=utcnow() - timedelta(seconds=1)))
        from app.order.jobs import expire_overdue_orders_job
        assert expire_overdue_orders_job() == 1
    assert a.get(f"/orders/{order_id}").get_json()["status"] == "cancelled"
    assert client.get("/api/v1/flash-sales").get_json()["items"][0]["stock_left"] == 2
    stats = admin.get(f"/admin/flash-sales/{sale['id']}").get_json()
    assert (stats["expired"], stats["returned"]) == (2, 2)
    # The units went back to the buyer's limit too: the same buyer may take 2 again.
    assert a.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2}).status_code == 202
    # Money for the expired order arrives late: recorded and refunded, the order stays cancelled.
    from sqlmodel import select

    from app.payment import service as payment_service
    from app.payment.models import Refund
    from app.payment.providers import PaymentEvent, out_trade_no
    with app.app_context():
        with transaction() as s:
            payment = payment_service.confirm_payment(s, provider_name="wechatpay", event=PaymentEvent(
                out_trade_no=out_trade_no(order_id), transaction_id="wx-late-1", amount=2 * 990, paid_at=utcnow()))
            assert payment.status == "late"
            refunds = s.exec(select(Refund).where(Refund.order_id == order_id)).all()
            assert [r.amount for r in refunds] == [2 * 990]
    assert a.get(f"/orders/{order_id}").get_json()["status"] == "cancelled"


def test_reconcile_after_redis_lost_everything_sells_the_rest_and_nothing_twice(app, admin, product, leader, client,
                                                                                 redis_server):
    sale = make_sale(admin, product["skus"][0]["id"], stock=4, limit=2)
    point = leader[1]["pickup_point_id"]
    a, b, c = (bound_buyer(client, f"rc{i}", point) for i in range(3))
    first = a.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2}).get_json()["reservation_id"]
    drain_all(app)
    Redis.from_url(redis_server.url()).flushall()
    with app.app_context():
        assert flash_flows.reconcile(sale["id"]) == 2
    assert a.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).get_json()["code"] == "limit_exceeded"
    second = b.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2}).get_json()["reservation_id"]
    assert second != first
    assert c.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).get_json()["code"] == "sold_out"
    drain_all(app)
    with app.app_context():
        with transaction() as s:
            assert s.get(FlashSale, sale["id"]).held == 4


def test_a_batch_committed_but_never_acknowledged_is_not_ordered_twice(app, admin, product, leader, client):
    sale = make_sale(admin, product["skus"][0]["id"], stock=6, limit=2)
    buyers = [bound_buyer(client, f"ack{i}", leader[1]["pickup_point_id"]) for i in range(3)]
    for b in buyers:
        assert b.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2}).status_code == 202
    with app.app_context():
        settings = app.extensions["linli.settings"]
        entries = flash_flows._read(sale["id"], "dies", 10, 0)
        items = [flash_flows._Res(eid, f["n"], int(f["u"]), int(f["q"]), None) for eid, f in entries]
        with transaction() as s:  # the batch commits, then the worker dies before XACK
            flash_flows._confirm(s, sale["id"], items, settings)
        assert flash_flows.drain_sale(sale["id"], consumer="next", min_idle_ms=0) == 3
        with transaction() as s:
            assert s.get(FlashSale, sale["id"]).held == 6
            assert len(s.exec(select(Order).where(Order.source == "flash_sale")).all()) == 3


def test_the_database_refuses_what_redis_lets_through_past_the_stock(app, admin, product, leader, client,
                                                                     redis_server):
    sale = make_sale(admin, product["skus"][0]["id"], stock=2, limit=2)
    a, b = (bound_buyer(client, f"over{i}", leader[1]["pickup_point_id"]) for i in range(2))
    ra = a.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2}).get_json()["reservation_id"]
    Redis.from_url(redis_server.url()).set(f"{{fs:{sale['id']}}}:left", 2)  # a lost write: Redis forgot a sale
    rb = b.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2}).get_json()["reservation_id"]
    drain_all(app)
    assert a.get(f"/flash-sales/reservations/{ra}").get_json()["status"] == "confirmed"
    assert b.get(f"/flash-sales/reservations/{rb}").get_json() == {"status": "failed", "order_id": None,
                                                                   "reason": "sold_out"}
    with app.app_context():
        with transaction() as s:
            assert s.get(FlashSale, sale["id"]).held == 2


def test_the_end_of_a_sale_gives_the_unsold_rest_back_to_the_sku_once(app, admin, product, leader, client):
    sku = product["skus"][0]
    sale = make_sale(admin, sku["id"], stock=10, limit=3)
    a = bound_buyer(client, "end", leader[1]["pickup_point_id"])
    res = a.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 3}).get_json()["reservation_id"]
    later = utcnow() + timedelta(hours=2)
    with app.app_context():
        assert flash_flows.settle(sale["id"], now=later) == 7  # the queued reservation became an order first
        assert flash_flows.settle(sale["id"], now=later) is None
    assert client.get(f"/api/v1/products/{product['id']}").get_json()["skus"][0]["stock_available"] == 97
    order_id = a.get(f"/flash-sales/reservations/{res}").get_json()["order_id"]
    assert a.post(f"/orders/{order_id}/cancel").get_json()["status"] == "cancelled"
    # After the end, a cancelled flash order's units go to the SKU, not to a closed sale.
    assert client.get(f"/api/v1/products/{product['id']}").get_json()["skus"][0]["stock_available"] == 100


def test_the_purchase_connection_survives_a_lost_script_and_a_killed_connection(app, admin, product, client):
    """The hot path keeps one Redis connection per thread (not redis-py's pool): after Redis
    forgets its scripts or drops the connection, the next purchase still reserves exactly once."""
    sale = make_sale(admin, product["skus"][0]["id"], stock=10, limit=10)
    buyer = login(client, "steady")
    buy = lambda: buyer.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1, "pickup_point_id": 1})  # noqa: E731
    assert buy().status_code == 202
    r = Redis.from_url(app.extensions["linli.settings"].redis_url)
    r.script_flush()
    assert buy().status_code == 202
    r.client_kill_filter(_type="normal", skipme=True)
    assert buy().status_code == 202
    assert client.get("/api/v1/flash-sales").get_json()["items"][0]["stock_left"] == 7


def test_the_purchase_packs_evalsha_as_redis_py_does():
    """The hot path packs its EVALSHA itself (keys arrive encoded): byte for byte redis-py's."""
    from redis.connection import Connection

    keys = (*flash._all_keys(7), "fsu:1/flash_purchase", "fsip:2001:db8::1")
    args = ["42", 3, "", "键-é", 10**12, b"raw"]
    sha = "a" * 40
    assert b"".join(flash._packed_evalsha(sha, keys, args)) == b"".join(
        Connection().pack_command("EVALSHA", sha, len(keys), *keys, *args))
