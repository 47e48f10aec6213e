"""Withdrawals on the sandbox provider (which completes transfers at once): the rules (minimum,
fee, a daily count, review or auto-approval), who sees what, and races for one balance."""
from __future__ import annotations

import pytest
import requests

from app import create_app
from app.earnings import jobs as earnings_jobs
from tests.concurrency import run_together
from tests.conftest import login, make_leader
from tests.earnings.helpers import balances, discrepancies, earn, entries
from tests.http_server import serving


@pytest.fixture
def settings_overrides():
    return {"withdraw_min": 100, "withdraw_daily_count": 3}


def test_a_withdrawal_freezes_the_amount_at_once_and_waits_for_review(app, leader):
    api, approved = leader
    lid = approved["leader_id"]
    earn(app, lid, 1000)

    r = api.post("/leader/withdrawals", json={"amount": 600})

    body = r.get_json()
    assert r.status_code == 201, body
    assert (body["status"], body["amount"], body["transfer_amount"]) == ("reviewing", 600, 600)
    assert body["out_bill_no"] == f"LW{body['id']:012d}"
    assert balances(app, lid) == (400, 600, 0)
    assert entries(app, lid)[-1] == ("withdrawal", -600, 400)
    assert discrepancies(app) == []


def test_below_the_minimum_is_422_and_more_than_available_is_409(app, leader):
    api, approved = leader
    earn(app, approved["leader_id"], 1000)

    low = api.post("/leader/withdrawals", json={"amount": 99})
    much = api.post("/leader/withdrawals", json={"amount": 1001})

    assert low.status_code == 422 and low.get_json()["code"] == "withdrawal_below_minimum"
    assert much.status_code == 409 and much.get_json()["code"] == "insufficient_earnings"
    assert balances(app, approved["leader_id"]) == (1000, 0, 0)


def test_the_daily_count_limits_withdrawals(app, leader):
    api, approved = leader
    earn(app, approved["leader_id"], 1000)

    answers = [api.post("/leader/withdrawals", json={"amount": 100}).status_code for _ in range(4)]

    assert answers == [201, 201, 201, 409]
    assert balances(app, approved["leader_id"]) == (700, 300, 0)


def test_an_idempotency_key_replays_the_first_withdrawal(app, leader):
    api, approved = leader
    earn(app, approved["leader_id"], 1000)
    key = {"Idempotency-Key": "withdraw-1"}

    first = api.post("/leader/withdrawals", json={"amount": 300}, headers=key)
    again = api.post("/leader/withdrawals", json={"amount": 300}, headers=key)

    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert balances(app, approved["leader_id"]) == (700, 300, 0)


def test_rejecting_returns_the_amount_once(app, leader, admin):
    api, approved = leader
    lid = approved["leader_id"]
    earn(app, lid, 1000)
    w = api.post("/leader/withdrawals", json={"amount": 600}).get_json()

    r = admin.post(f"/admin/withdrawals/{w['id']}/reject", json={"reason": "资料不符"})
    again = admin.post(f"/admin/withdrawals/{w['id']}/reject", json={})

    assert r.status_code == 200 and r.get_json()["status"] == "rejected"
    assert r.get_json()["reject_reason"] == "资料不符"
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_state"
    assert balances(app, lid) == (1000, 0, 0)
    assert [k for k, _, _ in entries(app, lid)] == ["commission", "withdrawal", "withdrawal_returned"]
    assert discrepancies(app) == []


def test_approving_on_the_sandbox_pays_at_once(app, leader, admin):
    api, approved = leader
    lid = approved["leader_id"]
    earn(app, lid, 1000)
    w = api.post("/leader/withdrawals", json={"amount": 600}).get_json()

    r = admin.post(f"/admin/withdrawals/{w['id']}/approve", json={})

    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "paid"
    assert balances(app, lid) == (400, 0, 600)
    assert api.get(f"/leader/withdrawals/{w['id']}").get_json()["status"] == "paid"
    assert admin.post(f"/admin/withdrawals/{w['id']}/approve").get_json()["code"] == "invalid_state"
    assert discrepancies(app) == []


def test_a_fee_is_kept_back_and_a_small_amount_skips_review(app, make_settings):
    custom = create_app(make_settings(withdraw_fee=10, withdraw_auto_approve=500))
    custom.config["TESTING"] = True
    client = custom.test_client()
    admin = login(client, "fee-admin", admin=True)
    api, approved = make_leader(client, admin)
    lid = approved["leader_id"]
    earn(custom, lid, 1000)

    small = api.post("/leader/withdrawals", json={"amount": 300}).get_json()
    big = api.post("/leader/withdrawals", json={"amount": 600}).get_json()
    tiny = api.post("/leader/withdrawals", json={"amount": 10})

    assert (small["status"], small["fee"], small["transfer_amount"]) == ("approved", 10, 290)
    assert big["status"] == "reviewing"
    assert tiny.status_code == 422  # not even the fee
    with custom.app_context():
        assert earnings_jobs.transfer_withdrawal_job(small["id"]) == "paid"
    assert balances(custom, lid) == (100, 600, 300)
    custom.extensions["linli.engine"].dispose()


def test_a_leader_sees_only_their_own_withdrawals_and_a_buyer_none(client, app, admin, leader, buyer):
    api, approved = leader
    other_api, other = make_leader(client, admin, lat=31.2304, lng=121.4737)
    earn(app, approved["leader_id"], 1000)
    earn(app, other["leader_id"], 1000)
    mine = api.post("/leader/withdrawals", json={"amount": 200}).get_json()
    theirs = other_api.post("/leader/withdrawals", json={"amount": 300}).get_json()

    assert api.get(f"/leader/withdrawals/{theirs['id']}").status_code == 404
    assert api.get(f"/leader/withdrawals/{theirs['id']}").get_json()["code"] == "withdrawal_not_found"
    assert [w["id"] for w in api.get("/leader/withdrawals").get_json()["items"]] == [mine["id"]]
    assert api.get("/leader/earnings").get_json()["available"] == 800
    assert other_api.get("/leader/earnings").get_json()["available"] == 700
    assert buyer.get("/leader/earnings").status_code == 403
    assert buyer.post("/leader/withdrawals", json={"amount": 100}).status_code == 403
    assert api.get("/admin/withdrawals").status_code == 403
    listed = admin.get("/admin/withdrawals", query_string={"status": "reviewing"}).get_json()["items"]
    assert {w["id"] for w in listed} == {mine["id"], theirs["id"]}


def test_eight_racing_withdrawals_of_the_whole_balance_take_it_once(app, leader):
    """Over HTTP with real threads: on PostgreSQL they race for the account row (SQLite serialises
    writers); the conditional UPDATE ... WHERE available >= amount lets exactly one through."""
    api, approved = leader
    lid = approved["leader_id"]
    earn(app, lid, 5000)

    with serving(app) as base:
        results = run_together(8, lambda i: requests.post(f"{base}/api/v1/leader/withdrawals", json={"amount": 5000},
                                                          headers=api.headers, timeout=60))

    answers = sorted((r.status_code, r.json().get("code")) for r in results)
    assert answers == [(201, None)] + [(409, "insufficient_earnings")] * 7, answers
    assert balances(app, lid) == (0, 5000, 0)
    assert [k for k, _, _ in entries(app, lid)] == ["commission", "withdrawal"]
    assert discrepancies(app) == []
