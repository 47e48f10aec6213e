"""The order's state-change hooks are how other domains react (and how money goes back): a
"paid" hook may refuse a payment, "*" hooks see every source, and a refunded order's money is
returned by the payment domain's hook whoever refunded it."""
from __future__ import annotations

import pytest
from sqlmodel import select

from app.db import transaction
from app.order import hooks as order_hooks
from app.order import queries as order_queries
from app.order import transitions as order_transitions
from app.order.hooks import OrderEvent
from app.payment.models import Payment, Refund


@pytest.fixture
def hook():
    """Register a hook for one test only (the registry is process-wide)."""
    added = []

    def register(event, source, fn):
        order_hooks.hooks.on(OrderEvent(event), source, fn)
        added.append((OrderEvent(event), source, fn))
    yield register
    for event, source, fn in added:
        order_hooks.hooks.off(event, source, fn)


def place(buyer, product, point):
    r = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 2}],
                                    "pickup_point_id": point["pickup_point_id"]})
    assert r.status_code == 201
    return r.get_json()


def test_a_refused_payment_leaves_the_order_cancelled_and_the_money_refunded(app, client, hook, leader, product, buyer):
    hook("paid", "plain", lambda session, order: "group_full")
    o = place(buyer, product, leader[1])

    r = buyer.post(f"/orders/{o['id']}/pay")

    assert r.status_code == 409 and r.get_json()["code"] == "invalid_state"
    got = buyer.get(f"/orders/{o['id']}").get_json()
    assert got["status"] == "cancelled" and got["pickup_code"] is None
    with app.app_context(), transaction() as s:
        payment = s.exec(select(Payment).where(Payment.order_id == o["id"])).one()
        refund = s.exec(select(Refund).where(Refund.order_id == o["id"])).one()
        assert payment.status == "refused" and refund.amount == o["total"]
        assert refund.reason == "refused:group_full"
        assert order_queries.get_order(s, o["id"]).cancel_reason == "payment_refused:group_full"
    assert client.get(f"/api/v1/products/{product['id']}").get_json()["skus"][0]["stock_available"] == 100


def test_mark_paid_says_whether_it_applied(app, hook, leader, product, buyer):
    from app.db import utcnow

    first, second = place(buyer, product, leader[1]), place(buyer, product, leader[1])
    with app.app_context(), transaction() as s:
        ok = order_transitions.mark_paid(s, order_id=first["id"], paid_at=utcnow())
        again = order_transitions.mark_paid(s, order_id=first["id"], paid_at=utcnow())
    assert ok and ok.applied and ok.reason is None
    assert not again and again.reason == "not_payable"
    hook("paid", "*", lambda session, order: "closed_for_today")
    with app.app_context(), transaction() as s:
        refused = order_transitions.mark_paid(s, order_id=second["id"], paid_at=utcnow())
    assert not refused and refused.reason == "closed_for_today"


def test_star_hooks_see_every_source_and_refunds_follow_the_refunded_event(app, hook, leader, product, buyer, admin):
    seen = []
    hook("refunded", "*", lambda session, order: seen.append((order.id, order.source)))
    o = place(buyer, product, leader[1])
    assert buyer.post(f"/orders/{o['id']}/pay").status_code == 200

    r = admin.post(f"/admin/orders/{o['id']}/refund", json={"reason": "坏果"})

    assert r.status_code == 200 and r.get_json()["status"] == "refunded"
    assert seen == [(o["id"], "plain")]
    with app.app_context(), transaction() as s:
        refunds = list(s.exec(select(Refund).where(Refund.order_id == o["id"])))
    assert [(x.amount, x.reason) for x in refunds] == [(o["total"], "坏果")]
