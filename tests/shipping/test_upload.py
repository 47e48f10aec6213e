"""WeChat's order shipping sync end to end: an order paid through WeChat Pay and received at its
point is uploaded exactly once, as self-pickup, through the fake WeChat server's checks; through
"payment not filed yet", refusals, a timeout after WeChat accepted, a receive repeated; a refunded
order never; on SQLite and PostgreSQL."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import delete

from app.db import transaction, utcnow
from app.order import transitions as order_transitions
from app.order.models import Order, OrderStatus
from app.shipping import flows, service
from app.shipping.models import ShippingSync
from tests.concurrency import run_together
from tests.fakes.wechat_api import GET_ORDER, UPLOAD_SHIPPING, wechat_api  # noqa: F401 - the fixture
from tests.shipping.helpers import TOKEN, paid_order, receive, run_jobs, ship, sync_of


@pytest.fixture
def settings_overrides(wechat_api):
    # The client does not retry by itself, so every transient answer reaches the sync's own backoff.
    return {**wechat_api.settings(), "wechat_retries": 0, "wechat_timeout_s": 1.0, "shipping_retry_s": [0, 0, 0],
            "wechat_push_token": TOKEN}


def arrived_order(app, buyer, leader, product, wechat_api, **kw) -> dict:
    order = paid_order(app, buyer, leader, product, wechat_api, **kw)
    ship(app, order["delivery_date"])
    assert receive(leader, order["delivery_date"]) == 1
    return order


def test_an_order_received_at_its_point_is_uploaded_once_as_self_pickup(app, client, buyer, leader, product,
                                                                       wechat_api):
    order = paid_order(app, buyer, leader, product, wechat_api, qty=2)
    ship(app, order["delivery_date"])
    assert sync_of(app, order["id"]) is None  # shipped from the warehouse is not yet at the point

    assert receive(leader, order["delivery_date"]) == 1
    assert sync_of(app, order["id"]).state == "pending"  # written in the receive's own transaction
    run_jobs(app)
    assert receive(leader, order["delivery_date"]) == 0  # a receive repeated
    leader[0].post("/leader/pickups", json={"pickup_code": order["pickup_code"]})  # the fallback hook
    run_jobs(app)

    [body] = wechat_api.uploads_for(order["transaction_id"])
    assert wechat_api.upload_calls == 1 and wechat_api.payments[order["transaction_id"]].changes == 0
    assert body["order_key"] == {"order_number_type": 2, "transaction_id": order["transaction_id"]}
    assert body["logistics_type"] == 4 and body["delivery_mode"] == 1
    assert body["shipping_list"] == [{"item_desc": "麒麟西瓜 一个装约4斤*2"}]
    assert body["payer"] == {"openid": order["openid"]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00", body["upload_time"])
    sync = sync_of(app, order["id"])
    assert (sync.state, sync.attempts, sync.upload_time) == ("uploaded", 1, body["upload_time"])


def test_a_sandbox_payment_has_nothing_to_report(app, client, buyer, leader, product, wechat_api):
    _, approved = leader
    o = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                    "pickup_point_id": approved["pickup_point_id"]}).get_json()
    day = buyer.post(f"/orders/{o['id']}/pay").get_json()["order"]["delivery_date"]
    ship(app, day)
    assert receive(leader, day) == 1
    run_jobs(app)
    assert sync_of(app, o["id"]) is None and wechat_api.upload_calls == 0


def test_payment_not_filed_yet_is_retried_with_backoff_until_taken(app, client, buyer, leader, product,
                                                                  wechat_api):
    wechat_api.fail_next(UPLOAD_SHIPPING, 10060001, times=2)  # 支付单不存在: WeChat has not filed it yet
    wechat_api.fail_next(UPLOAD_SHIPPING, 10060012)  # 系统繁忙
    order = arrived_order(app, buyer, leader, product, wechat_api)
    run_jobs(app)

    sync = sync_of(app, order["id"])
    assert (sync.state, sync.attempts) == ("uploaded", 4)
    assert len(wechat_api.uploads_for(order["transaction_id"])) == 1


def test_transient_errors_past_the_last_wait_leave_it_failed(app, client, buyer, leader, product, wechat_api):
    wechat_api.fail_next(UPLOAD_SHIPPING, 10060001, times=10)
    order = arrived_order(app, buyer, leader, product, wechat_api)
    run_jobs(app)
    sync = sync_of(app, order["id"])
    assert (sync.state, sync.attempts, sync.errcode) == ("failed", 4, 10060001)
    assert wechat_api.uploads_for(order["transaction_id"]) == []


def test_a_refusal_is_failed_visible_to_operators_and_can_be_sent_again(app, client, admin, buyer, leader, product,
                                                                       wechat_api):
    wechat_api.fail_next(UPLOAD_SHIPPING, 10060014)  # 参数错误: permanent
    order = arrived_order(app, buyer, leader, product, wechat_api)
    run_jobs(app)

    listed = admin.get("/admin/shipping", query_string={"state": "failed"}).get_json()
    [item] = listed["items"]
    assert (item["order_id"], item["state"], item["errcode"]) == (order["id"], "failed", 10060014)
    assert listed["counts"]["failed"] == 1 and listed["counts"]["uploaded"] == 0
    assert buyer.get("/admin/shipping").status_code == 403

    r = admin.post(f"/admin/shipping/{item['id']}/retry")
    assert r.status_code == 200 and r.get_json()["state"] == "pending"
    run_jobs(app)
    assert sync_of(app, order["id"]).state == "uploaded"
    r = admin.post(f"/admin/shipping/{item['id']}/retry")
    assert r.status_code == 409 and r.get_json()["code"] == "invalid_state"
    assert admin.post("/admin/shipping/99999/retry").get_json()["code"] == "shipping_sync_not_found"


def test_a_timeout_after_wechat_accepted_is_looked_up_and_never_resent(app, client, buyer, leader, product,
                                                                      wechat_api):
    wechat_api.stall_after_next(UPLOAD_SHIPPING, 2.5)  # taken, then answered after the client gave up
    order = arrived_order(app, buyer, leader, product, wechat_api)
    run_jobs(app)
    sync = sync_of(app, order["id"])
    assert sync.state == "uncertain"
    assert len(wechat_api.uploads_for(order["transaction_id"])) == 1

    run_jobs(app)  # the redrive and the delayed lookup are not due yet: nothing is sent again
    with app.app_context():
        assert flows.redrive() == {"requeued": 0, "checked": 0}
        assert flows.check(sync_id=sync.id, now=utcnow() + timedelta(minutes=1)) == "uploaded"
    run_jobs(app)

    assert wechat_api.upload_calls == 1 and wechat_api.payments[order["transaction_id"]].changes == 0
    sync = sync_of(app, order["id"])
    assert (sync.state, sync.wechat_state) == ("uploaded", 2)


def test_a_timeout_before_wechat_acted_is_looked_up_then_sent_once(app, client, buyer, leader, product,
                                                                  wechat_api):
    wechat_api.delay_next(UPLOAD_SHIPPING, 2.5)  # the request hangs before WeChat does anything
    order = arrived_order(app, buyer, leader, product, wechat_api)
    run_jobs(app)
    sync = sync_of(app, order["id"])
    assert sync.state == "uncertain" and wechat_api.uploads_for(order["transaction_id"]) == []

    with app.app_context():
        assert flows.check(sync_id=sync.id, now=utcnow() + timedelta(minutes=1)) == "pending"
    run_jobs(app)
    assert len(wechat_api.uploads_for(order["transaction_id"])) == 1
    assert wechat_api.payments[order["transaction_id"]].changes == 0
    assert sync_of(app, order["id"]).state == "uploaded"


def test_a_lookup_that_fails_leaves_it_uncertain_for_later(app, client, buyer, leader, product, wechat_api):
    wechat_api.stall_after_next(UPLOAD_SHIPPING, 2.5)
    order = arrived_order(app, buyer, leader, product, wechat_api)
    run_jobs(app)
    sync = sync_of(app, order["id"])
    wechat_api.fail_next(GET_ORDER, -1)
    with app.app_context():
        assert flows.check(sync_id=sync.id, now=utcnow() + timedelta(minutes=1)) == "retry"
        # claimed for a while: an immediate second lookup waits its turn
        assert flows.check(sync_id=sync.id, now=utcnow() + timedelta(minutes=1)) is None
    assert sync_of(app, order["id"]).state == "uncertain" and wechat_api.upload_calls == 1


def test_a_worker_that_died_mid_upload_is_looked_up_before_it_is_sent(app, client, buyer, leader, product, wechat_api):
    order = arrived_order(app, buyer, leader, product, wechat_api)
    sync_id = sync_of(app, order["id"]).id
    with app.app_context():
        with transaction() as s:
            assert service.claim_upload(s, sync_id=sync_id, now=utcnow(), upload_time="x") is not None
        with transaction() as s:
            s.execute(service.T.update().where(service.T.c.id == sync_id)
                      .values(updated_at=utcnow() - timedelta(minutes=11)))
        # Taken from uploading to uncertain, and looked up at once: WeChat has no shipment.
        assert flows.redrive() == {"requeued": 0, "checked": 1}
    sync = sync_of(app, order["id"])
    assert (sync.state, sync.wechat_state, wechat_api.upload_calls) == ("pending", 1, 0)
    run_jobs(app)
    assert sync_of(app, order["id"]).state == "uploaded" and wechat_api.upload_calls == 1


def test_a_refunded_order_is_never_uploaded(app, client, admin, buyer, leader, product, wechat_api):
    # Refunded before it shipped (the buyer's cancel): it never reaches the point.
    cancelled = paid_order(app, buyer, leader, product, wechat_api)
    assert buyer.post(f"/orders/{cancelled['id']}/cancel").get_json()["status"] == "refunded"
    wechat_api.refund(cancelled["transaction_id"])
    # Received, then refunded before the worker got to it.
    order = paid_order(app, buyer, leader, product, wechat_api)
    ship(app, order["delivery_date"])
    assert receive(leader, order["delivery_date"]) == 1
    with app.app_context(), transaction() as s:
        order_transitions.mark_refunded(s, order_id=order["id"], allowed_from=(OrderStatus.arrived,),
                                        reason="after_sales")
    run_jobs(app)
    with app.app_context():
        flows.sweep_wechat_orders()
        flows.redrive()
    run_jobs(app)

    assert sync_of(app, cancelled["id"]) is None
    assert sync_of(app, order["id"]).state == "void"
    assert wechat_api.upload_calls == 0


def test_many_workers_and_receives_at_once_upload_once(app, client, backend, buyer, leader, product, wechat_api):
    """The claim (pending → uploading, one conditional UPDATE) is what keeps a payment from being
    sent twice: 8 workers at once, with the receive and the pickup hook repeated, send one."""
    if backend != "postgresql":
        pytest.skip("the race is judged on PostgreSQL, with real concurrent transactions")
    order = arrived_order(app, buyer, leader, product, wechat_api)
    sync_id = sync_of(app, order["id"]).id

    def one(i):
        with app.app_context():
            if i % 4 == 3:
                with transaction() as s:
                    return service.queue_order(s, order_transitions.get_order(s, order["id"])) and "queued"
            return flows.upload(sync_id=sync_id)

    results = run_together(12, one)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert results.count("uploaded") == 1
    assert wechat_api.upload_calls == 1 and len(wechat_api.uploads_for(order["transaction_id"])) == 1


def test_an_upload_is_a_noop_once_sent(app, client, buyer, leader, product, wechat_api):
    order = arrived_order(app, buyer, leader, product, wechat_api)
    run_jobs(app)
    sync_id = sync_of(app, order["id"]).id
    with app.app_context():
        assert flows.upload(sync_id=sync_id) is None
        assert flows.check(sync_id=sync_id) is None
    assert wechat_api.upload_calls == 1


def test_recharges_have_a_seam_as_virtual_goods(app, client, buyer, wechat_api):
    wechat_api.add_payment(transaction_id="4200RECHARGE1", mchid="1900000109", out_trade_no="RC000000000001",
                           openid="buyer-1")
    with app.app_context(), transaction() as s:
        service.queue_virtual_goods(s, ref="recharge:1", transaction_id="4200RECHARGE1",
                                    out_trade_no="RC000000000001", openid="buyer-1", item_desc="储值卡 充100送10",
                                    paid_at=utcnow())
    run_jobs(app)
    [body] = wechat_api.uploads_for("4200RECHARGE1")
    assert body["logistics_type"] == 3 and body["shipping_list"] == [{"item_desc": "储值卡 充100送10"}]


def test_item_desc_fits_wechats_120_characters():
    desc = service.item_desc([("很长的商品名称" * 5, 3)] * 5)
    assert len(desc) == 120 and desc.endswith("...")
    assert service.item_desc([]) == "商品"


def test_orders_paid_long_ago_without_an_upload_are_counted(app, client, admin, buyer, leader, product,
                                                           wechat_api):
    old = paid_order(app, buyer, leader, product, wechat_api)
    paid_order(app, buyer, leader, product, wechat_api)  # paid just now: not overdue
    with app.app_context(), transaction() as s:
        s.execute(Order.__table__.update().where(Order.__table__.c.id == old["id"])
                  .values(paid_at=utcnow() - timedelta(hours=40)))
    listed = admin.get("/admin/shipping").get_json()
    assert (listed["overdue"], listed["overdue_after_h"]) == (1, 36)

    ship(app, old["delivery_date"])
    receive(leader, old["delivery_date"])
    run_jobs(app)
    assert admin.get("/admin/shipping").get_json()["overdue"] == 0


def test_the_daily_sweep_uploads_arrived_orders_wechat_still_awaits(app, client, buyer, leader, product,
                                                                   wechat_api):
    arrived = arrived_order(app, buyer, leader, product, wechat_api)
    waiting = paid_order(app, buyer, leader, product, wechat_api)  # paid, not yet at the point
    with app.app_context(), transaction() as s:  # as if the arrival hook had never run
        s.execute(delete(ShippingSync))
    with app.app_context():
        outcome = flows.sweep_wechat_orders(page_size=1)  # one per page: the pages are followed
    assert outcome == {"queued": 1, "not_arrived": 1}
    run_jobs(app)
    assert len(wechat_api.uploads_for(arrived["transaction_id"])) == 1
    assert wechat_api.uploads_for(waiting["transaction_id"]) == []
    with app.app_context():
        assert flows.sweep_wechat_orders() == {"not_arrived": 1}


def test_pickup_queues_an_order_whose_arrival_left_no_sync(app, client, buyer, leader, product, wechat_api):
    order = arrived_order(app, buyer, leader, product, wechat_api)
    with app.app_context(), transaction() as s:  # arrived before this domain existed
        s.execute(delete(ShippingSync))
    r = leader[0].post("/leader/pickups", json={"pickup_code": order["pickup_code"]})
    assert r.status_code == 200 and r.get_json()["status"] == "picked_up"
    assert sync_of(app, order["id"]).state == "pending"
    run_jobs(app)
    assert len(wechat_api.uploads_for(order["transaction_id"])) == 1


def test_an_order_whose_money_all_went_back_is_not_queued(app, client, buyer, leader, product, wechat_api):
    order = paid_order(app, buyer, leader, product, wechat_api, qty=1)
    ship(app, order["delivery_date"])
    r = leader[0].post(f"/leader/deliveries/{order['delivery_date']}/shortages",
                       json={"lines": [{"sku_id": product["skus"][0]["id"], "missing_qty": 1}]})
    assert r.status_code == 200, r.get_json()
    receive(leader, order["delivery_date"])
    assert sync_of(app, order["id"]) is None
