"""Races over real HTTP (a threaded server: one request thread and one database connection per
request, against the real Redis and PostgreSQL; SQLite serialises writers, so there the same test
checks the rules, not the locking)."""
from __future__ import annotations

import threading

import requests
from sqlalchemy import func
from sqlmodel import select

from app.db import transaction
from app.groupbuy.models import Group
from app.order.models import Order
from app.payment.models import Payment, Refund
from tests.conftest import login
from tests.groupbuy.helpers import make_campaign
from tests.http_server import serving


def test_twenty_buyers_joining_and_paying_a_group_of_five_at_once_leave_five_paid_and_no_money_lost(
        app, client, admin, leader, product):
    _, point = leader
    campaign = make_campaign(admin, product["skus"][0]["id"], group_size=5)
    opener = login(client, "opener")
    group = opener.post(f"/group-buys/{campaign['id']}/groups",
                        json={"pickup_point_id": point["pickup_point_id"]}).get_json()["group"]
    tokens = [login(client, f"racer-{i}").token for i in range(20)]
    results: list[tuple] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    with serving(app) as base:
        def go(token):
            h = {"Authorization": f"Bearer {token}"}
            start.wait(10)
            r = requests.post(f"{base}/api/v1/groups/{group['id']}/join", headers=h, timeout=60,
                              json={"pickup_point_id": point["pickup_point_id"]})
            outcome: tuple = ("join", r.status_code, r.json().get("code"))
            if r.status_code == 201:
                order_id = r.json()["order"]["id"]
                p = requests.post(f"{base}/api/v1/orders/{order_id}/pay", headers=h, timeout=60)
                outcome = ("pay", p.status_code, p.json().get("code"))
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=go, args=(t,)) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)

    assert len(results) == 20
    assert all(status < 500 for _, status, _ in results), results
    paid = [r for r in results if r[:2] == ("pay", 200)]
    assert len(paid) == 5, results
    # Everyone else was refused: at the join (full or closed), at payment (the order cancelled by
    # the full group) or after it (the money recorded and refunded).
    assert all(r[2] in ("group_full", "group_closed", "invalid_state") for r in results if r not in paid), results
    with app.app_context(), transaction() as s:
        g = s.get(Group, group["id"])
        assert (g.status, g.paid_count) == ("succeeded", 5)
        n_paid = s.exec(select(func.count(Order.id)).where(Order.source == "group", Order.status == "paid")).one()
        assert n_paid == 5
        money_in = s.exec(select(func.coalesce(func.sum(Payment.amount), 0))).one()
        refunded = s.exec(select(func.coalesce(func.sum(Refund.amount), 0))).one()
        kept = s.exec(select(func.coalesce(func.sum(Order.total), 0)).where(Order.status == "paid")).one()
        assert money_in == kept + refunded, (money_in, kept, refunded)
        # Every payment that did not make a member is refunded in full, exactly once.
        for p in s.exec(select(Payment).where(Payment.status != "applied")):
            assert [r.amount for r in s.exec(select(Refund).where(Refund.payment_id == p.id))] == [p.amount]
