"""Coupons under real concurrency: threads released together against a threaded HTTP server (one
request thread and one database connection each). On PostgreSQL these are real races on rows;
SQLite serialises writers, so there the same tests check the rules, not the locking."""
from __future__ import annotations

import threading
from collections import Counter

import requests
from sqlalchemy import func
from sqlmodel import select

from app.coupons.models import Coupon, CouponTemplate, LeaderCouponQuota
from app.db import transaction
from app.order.models import Order
from tests.conftest import login
from tests.coupons.test_coupons import claim, make_template
from tests.coupons.test_grants import fans_of, set_quota
from tests.http_server import serving


def race(app, calls: list[tuple[str, str, dict | None, str]]) -> list[tuple[int, dict]]:
    """(method, path, json, token) each in its own thread, released at once; (status, body) each."""
    results: list = [None] * len(calls)
    start = threading.Barrier(len(calls))
    with serving(app) as base:
        def go(i):
            method, path, body, token = calls[i]
            start.wait(30)
            r = requests.request(method, f"{base}/api/v1{path}", json=body, timeout=90,
                                 headers={"Authorization": f"Bearer {token}"})
            results[i] = (r.status_code, r.json())
        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    return results


def test_twenty_five_buyers_racing_for_ten_coupons_get_exactly_ten(app, client, admin):
    t = make_template(admin, total=10)
    buyers = [login(client, f"racer-{i}") for i in range(25)]

    results = race(app, [("POST", f"/coupon-templates/{t['id']}/claim", None, b.token) for b in buyers])

    assert Counter(status for status, _ in results) == {201: 10, 409: 15}, results
    assert {body["code"] for status, body in results if status == 409} == {"coupons_gone"}
    with app.app_context(), transaction() as s:
        owners = s.exec(select(Coupon.owner_id).where(Coupon.template_id == t["id"])).all()
        assert len(owners) == len(set(owners)) == 10
        assert s.get(CouponTemplate, t["id"]).issued == 10


def test_one_buyer_claiming_many_times_at_once_gets_per_user_limit(app, client, admin):
    t = make_template(admin, total=100, per_user_limit=3)
    buyer = login(client, "greedy")

    results = race(app, [("POST", f"/coupon-templates/{t['id']}/claim", None, buyer.token)] * 12)

    assert Counter(status for status, _ in results) == {201: 3, 409: 9}, results
    assert {body["code"] for status, body in results if status == 409} == {"claim_limit_reached"}
    with app.app_context(), transaction() as s:
        assert sorted(s.exec(select(Coupon.seq).where(Coupon.owner_id == buyer.user["id"])).all()) == [1, 2, 3]
        assert s.get(CouponTemplate, t["id"]).issued == 3  # the refused claims issued nothing


def test_two_grants_racing_stop_at_the_quota_and_reach_each_fan_once(app, client, admin, leader):
    leader_api, approved = leader
    fans_of(client, approved["pickup_point_id"], 12)
    t = make_template(admin, total=100, claimable=False)
    set_quota(admin, t["id"], approved["leader_id"], 8)

    results = race(app, [("POST", "/leader/coupon-grants", {"template_id": t["id"], "segment": "all"},
                          leader_api.token)] * 4)

    assert all(status in (201, 409) for status, _ in results), results
    assert sum(body["granted"] for status, body in results if status == 201) == 8
    assert {body["code"] for status, body in results if status == 409} <= {"no_coupon_quota"}
    with app.app_context(), transaction() as s:
        owners = s.exec(select(Coupon.owner_id).where(Coupon.template_id == t["id"])).all()
        assert len(owners) == len(set(owners)) == 8
        quota = s.exec(select(LeaderCouponQuota).where(LeaderCouponQuota.template_id == t["id"])).one()
        assert (quota.quota, quota.granted) == (8, 8)
        assert s.get(CouponTemplate, t["id"]).issued == 8


def test_grants_racing_with_room_for_everyone_give_each_fan_exactly_one(app, client, admin, leader):
    leader_api, approved = leader
    fans = fans_of(client, approved["pickup_point_id"], 10)
    t = make_template(admin, total=100, per_user_limit=5)
    set_quota(admin, t["id"], approved["leader_id"], 50)
    calls = [("POST", "/leader/coupon-grants", {"template_id": t["id"], "segment": "all"}, leader_api.token)] * 3
    # and fans claiming their own at the same time
    calls += [("POST", f"/coupon-templates/{t['id']}/claim", None, f.token) for f in fans[:4]]

    results = race(app, calls)

    assert all(status == 201 for status, _ in results), results
    granted = sum(body["granted"] for _, body in results[:3])
    with app.app_context(), transaction() as s:
        rows = s.exec(select(Coupon.owner_id, Coupon.leader_id).where(Coupon.template_id == t["id"])).all()
    by_owner = Counter(owner for owner, _ in rows)
    assert set(by_owner) == {f.user["id"] for f in fans}
    assert granted == sum(1 for _, leader_id in rows if leader_id is not None)
    # each fan holds exactly one granted or claimed coupon, plus at most their own claim
    assert all(n in (1, 2) for n in by_owner.values()) and len(rows) == 10 + 4 - (10 - granted)


def test_a_coupon_raced_into_several_orders_is_used_once(app, client, admin, leader, product):
    _, approved = leader
    buyer = login(client, "double-spender")
    c = claim(buyer, make_template(admin)["id"])
    body = {"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
            "pickup_point_id": approved["pickup_point_id"], "coupon_id": c["id"]}

    results = race(app, [("POST", "/orders", body, buyer.token)] * 6)

    assert Counter(status for status, _ in results) == {201: 1, 409: 5}, results
    assert {body["code"] for status, body in results if status == 409} == {"coupon_used"}
    with app.app_context(), transaction() as s:
        assert s.exec(select(func.count(Order.id)).where(Order.coupon_id == c["id"])).one() == 1
        assert s.get(Coupon, c["id"]).status == "used"


def test_the_coupons_own_guard_lets_one_of_many_racing_redemptions_through(app, client, admin, product):
    """The same race without the buyer's row lock that POST /orders takes first (which alone
    would serialise one buyer's orders): redemptions in parallel transactions, each holding its
    transaction open a moment after its UPDATE, so the others read the coupon unused first."""
    from app.coupons import service as coupons_service
    from app.coupons.errors import CouponUsed
    from tests.concurrency import run_together

    buyer = login(client, "racing-redeemer")
    c = claim(buyer, make_template(admin)["id"])

    def redeem(_):
        with app.app_context(), transaction() as s:
            off = coupons_service.redeem(s, coupon_id=c["id"], buyer_id=buyer.user["id"], source="plain",
                                         base=1990, lines=[coupons_service.CouponLine(product["id"], 1990)])
            threading.Event().wait(0.3)
            return off

    results = run_together(8, redeem)

    assert sum(1 for r in results if r == 500) == 1, results
    assert all(isinstance(r, CouponUsed) for r in results if r != 500), results
