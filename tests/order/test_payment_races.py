"""Paying races everything else that moves an order. Real threads over real HTTP (or the
service in a thread) against both databases: on PostgreSQL they truly interleave; SQLite
serialises writers, so there the tests check the same outcomes in whatever order they queue."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from sqlmodel import select

from app.catalog.models import Sku
from app.db import transaction, utcnow
from app.order import queries as order_queries
from app.order import transitions as order_transitions
from app.order.models import Order
from app.payment import service as payment_service
from app.payment.models import Payment, Refund
from app.payment.providers import PaymentEvent, out_trade_no
from tests.http_server import serving

ROUNDS = 6


@pytest.fixture
def settings_overrides():
    return {"max_unpaid_orders": 50}


def place(buyer, product, point, qty=2) -> dict:
    r = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": qty}],
                                    "pickup_point_id": point["pickup_point_id"]})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def run_together(*fns):
    """Start every fn at the same moment in its own thread; return their results in order."""
    out = [None] * len(fns)
    start = threading.Barrier(len(fns))

    def wrap(i, fn):
        start.wait(10)
        try:
            out[i] = fn()
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            out[i] = e

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def facts(app, order_id):
    with app.app_context(), transaction() as s:
        order = s.get(Order, order_id)
        payments = list(s.exec(select(Payment).where(Payment.order_id == order_id)))
        refunds = list(s.exec(select(Refund).where(Refund.order_id == order_id)))
        return order.status, payments, refunds


def stock(app, product):
    with app.app_context(), transaction() as s:
        return s.get(Sku, product["skus"][0]["id"]).stock


def http(base, token, method, path):
    r = getattr(requests, method)(f"{base}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return r.status_code, r.json()


def test_twenty_concurrent_pays_of_one_order_start_one_payment(app, leader, product, buyer):
    """20 threads tap /pay at once: one payment (one transaction per out_trade_no, like WeChat
    Pay), the other answers replay it or are 409; none refunded as late. PostgreSQL interleaves
    them; SQLite serialises writers."""
    o = place(buyer, product, leader[1])
    with serving(app) as base:
        answers = run_together(*[lambda: http(base, buyer.token, "post", f"/orders/{o['id']}/pay")] * 20)
    assert all(not isinstance(a, Exception) for a in answers), answers
    assert {status for status, _ in answers} <= {200, 409}, answers
    paid = [b for status, b in answers if status == 200]
    assert paid and all(b["order"]["status"] == "paid" for b in paid)
    assert all(b["code"] == "invalid_state" for status, b in answers if status == 409)
    status, payments, refunds = facts(app, o["id"])
    assert status == "paid"
    assert [p.status for p in payments] == ["applied"] and refunds == []
    assert len({b["order"]["pickup_code"] for b in paid}) == 1


def test_pay_racing_a_cancel_never_answers_200_with_a_cancelled_order(app, leader, product, buyer):
    """/pay and /cancel together, six times (threads; real interleaving on PostgreSQL, SQLite
    serialises writers)."""
    orders = [place(buyer, product, leader[1]) for _ in range(ROUNDS)]
    with serving(app) as base:
        for o in orders:
            pay, cancel = run_together(lambda: http(base, buyer.token, "post", f"/orders/{o['id']}/pay"),
                                       lambda: http(base, buyer.token, "post", f"/orders/{o['id']}/cancel"))
            assert pay[0] in (200, 409) and cancel[0] in (200, 409), (pay, cancel)
            if pay[0] == 200:
                assert pay[1]["order"]["status"] == "paid", pay
            status, payments, refunds = facts(app, o["id"])
            applied = [p for p in payments if p.status == "applied"]
            # Cancelled first (any sandbox payment that landed after is late and refunded), or
            # paid first and then refunded by the cancel: never both paid and kept, or lost.
            assert status in ("cancelled", "refunded"), status
            assert len(refunds) == len(payments) <= 1
            assert len(applied) == (1 if status == "refunded" else 0)
    assert stock(app, product) == 100


def test_pay_racing_the_expiry_either_pays_or_cancels_and_refunds(app, leader, product, buyer):
    """/pay against the expiry job (threads; real interleaving on PostgreSQL, SQLite serialises
    writers): paid and kept, or cancelled with any late money refunded; stock exact."""
    orders = [place(buyer, product, leader[1]) for _ in range(ROUNDS)]

    def expire(order_id):
        with app.app_context(), transaction() as s:
            return order_transitions.expire_if_due(s, order_id=order_id, now=utcnow() + timedelta(hours=1))

    with serving(app) as base:
        for o in orders:
            pay, expired = run_together(lambda: http(base, buyer.token, "post", f"/orders/{o['id']}/pay"),
                                        lambda: expire(o["id"]))
            assert not isinstance(expired, Exception), expired
            status, payments, refunds = facts(app, o["id"])
            if status == "paid":
                assert pay[0] == 200 and expired is False
                assert [p.status for p in payments] == ["applied"] and refunds == []
            else:
                assert status == "cancelled" and expired is True and pay[0] == 409, (pay, status)
                assert [p.status for p in payments] in ([], ["late"]) and len(refunds) == len(payments)
    paid = sum(facts(app, o["id"])[0] == "paid" for o in orders)
    assert stock(app, product) == 100 - 2 * paid


def test_buyer_cancel_racing_a_payment_notification_refunds_exactly_once(app, leader, product, buyer):
    """The buyer cancels while the payment notification (the sandbox confirm path) lands (threads;
    real interleaving on PostgreSQL, SQLite serialises writers): exactly one refund either way."""
    orders = [place(buyer, product, leader[1]) for _ in range(ROUNDS)]

    def notify(o):  # what a provider's notification runs (the sandbox /pay path too)
        with app.app_context(), transaction() as s:
            return payment_service.confirm_payment(s, provider_name="sandbox", event=PaymentEvent(
                out_trade_no=out_trade_no(o["id"]), transaction_id=f"race-{o['id']}", amount=o["total"],
                paid_at=utcnow())).status

    with serving(app) as base:
        for o in orders:
            cancel, paid = run_together(lambda: http(base, buyer.token, "post", f"/orders/{o['id']}/cancel"),
                                        lambda: notify(o))
            assert cancel[0] == 200 and paid in ("applied", "late"), (cancel, paid)
            status, payments, refunds = facts(app, o["id"])
            # Paid first then cancelled → refunded; cancelled first → the late payment is refunded.
            assert status == ("refunded" if paid == "applied" else "cancelled")
            assert len(payments) == 1 and len(refunds) == 1 and refunds[0].amount == o["total"]
    assert stock(app, product) == 100


def test_cancel_racing_the_shipping_run_either_ships_or_refunds(app, leader, product, buyer):
    """The buyer cancels while the manifest build ships (threads; real interleaving on PostgreSQL,
    SQLite serialises writers): shipped and not refunded, or refunded and not shipped."""
    def ship(o):
        # The whole run for the date and point, as the manifest build ships it; each round has one
        # paid order at the point (the earlier ones are shipped or refunded by then).
        with app.app_context(), transaction() as s:
            return order_transitions.ship_paid_orders(s, delivery_date=order_queries.get_order(s, o["id"]).delivery_date,
                                                  pickup_point_id=leader[1]["pickup_point_id"])

    orders = []
    with serving(app) as base:
        for _ in range(ROUNDS):
            o = place(buyer, product, leader[1])
            assert buyer.post(f"/orders/{o['id']}/pay").status_code == 200
            orders.append(o)
            cancel, shipped = run_together(lambda: http(base, buyer.token, "post", f"/orders/{o['id']}/cancel"),
                                           lambda: ship(o))
            assert not isinstance(shipped, Exception), shipped
            status, _, refunds = facts(app, o["id"])
            if o["id"] in shipped:
                assert status == "shipped" and cancel[0] == 409 and refunds == []
            else:
                assert status == "refunded" and cancel[0] == 200 and len(refunds) == 1
    refunded = sum(facts(app, o["id"])[0] == "refunded" for o in orders)
    assert stock(app, product) == 100 - 2 * (ROUNDS - refunded)
