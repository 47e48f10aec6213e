"""Who opens and closes a point, what a suspended leader's point refuses, and the one-pending-
application rule held by the database under concurrency."""
from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy.exc import IntegrityError

from app.db import transaction
from app.leader.models import LeaderApplication
from tests.conftest import login
from tests.http_server import serving
from tests.leader.test_applications import APPLICATION


def together(n, fn):
    answers, start = [], threading.Barrier(n)

    def go(i):
        start.wait(10)
        answers.append(fn(i))
    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def test_a_leader_cannot_open_or_close_their_own_point(client, admin, leader):
    leader_api, approved = leader
    point_id = approved["pickup_point_id"]
    r = leader_api.patch("/leader/pickup-point", json={"active": False})
    assert r.status_code == 422 and r.get_json()["code"] == "validation_error", r.get_json()
    assert client.get(f"/api/v1/pickup-points/{point_id}").get_json()["active"] is True
    assert leader_api.patch("/leader/pickup-point", json={"opening_hours": "07:00-21:00"}).status_code == 200
    # Only an operator opens and closes a point.
    assert admin.patch(f"/admin/pickup-points/{point_id}", json={"active": False}).get_json()["active"] is False


def test_a_suspended_leaders_point_refuses_binds_and_orders_and_says_why(client, admin, leader, product, buyer):
    _, approved = leader
    point_id = approved["pickup_point_id"]
    assert buyer.put("/me/pickup-point", json={"pickup_point_id": point_id}).status_code == 200
    assert admin.patch(f"/admin/leaders/{approved['leader_id']}", json={"active": False}).status_code == 200
    newcomer = login(client, "newcomer")

    bind = newcomer.put("/me/pickup-point", json={"pickup_point_id": point_id})
    explicit = newcomer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                              "pickup_point_id": point_id})
    bound = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}]})

    for r in (bind, explicit, bound):
        assert r.status_code == 409 and r.get_json()["code"] == "pickup_point_unavailable", r.get_json()
    assert client.get(f"/api/v1/products/{product['id']}").get_json()["skus"][0]["stock_available"] == 100
    assert client.get("/api/v1/pickup-points/nearby?lat=30.2741&lng=120.1551").get_json()["items"] == []


def test_the_database_holds_one_pending_application_per_user(app, client):
    applicant = login(client, "twice")
    assert applicant.post("/leader-applications", json=APPLICATION).status_code == 201
    pp = APPLICATION["pickup_point"]
    with app.app_context(), pytest.raises(IntegrityError), transaction() as s:
        s.add(LeaderApplication(user_id=applicant.user["id"], real_name="x", phone="1", point_name=pp["name"],
                                point_address=pp["address"], lat=pp["lat"], lng=pp["lng"]))
        s.flush()


def test_one_user_applying_many_times_at_once_gets_one_application(app, client, admin):
    """Ten taps at once: one 201, nine 409 application_pending, no 500 (the partial unique
    index decides on PostgreSQL; SQLite serialises writers)."""
    applicant = login(client, "eager")
    with serving(app) as base:
        answers = together(10, lambda _: requests.post(
            f"{base}/api/v1/leader-applications", json=APPLICATION, timeout=60,
            headers=applicant.headers))
    codes = sorted((r.status_code, r.json().get("code")) for r in answers)
    assert codes == [(201, None)] + [(409, "application_pending")] * 9, codes
    assert len(admin.get("/admin/leader-applications?status=pending").get_json()["items"]) == 1


def test_two_operators_approving_at_once_make_one_leader(app, client, admin):
    """Two operators click approve together: one 200, one 409, never a 500 (threads; real
    interleaving on PostgreSQL, serialised writers on SQLite)."""
    other_admin = login(client, "admin-2", admin=True)
    applicant = login(client, "popular")
    app_id = applicant.post("/leader-applications", json=APPLICATION).get_json()["id"]
    with serving(app) as base:
        answers = together(2, lambda i: requests.post(
            f"{base}/api/v1/admin/leader-applications/{app_id}/approve", timeout=60,
            headers=(admin, other_admin)[i].headers))
    assert sorted(r.status_code for r in answers) == [200, 409], [r.json() for r in answers]
    assert "leader" in applicant.get("/me").get_json()["roles"]


def test_applying_while_being_approved_never_gives_a_500(app, client, admin):
    """The user applies again while an operator approves their pending application: whichever
    wins, the other answer is a 409 and the user is one leader."""
    applicant = login(client, "hasty")
    app_id = applicant.post("/leader-applications", json=APPLICATION).get_json()["id"]
    with serving(app) as base:
        answers = together(2, lambda i: requests.post(
            f"{base}/api/v1/admin/leader-applications/{app_id}/approve", timeout=60, headers=admin.headers)
            if i == 0 else requests.post(f"{base}/api/v1/leader-applications", json=APPLICATION, timeout=60,
                                         headers=applicant.headers))
    assert all(r.status_code in (200, 201, 409) for r in answers), [r.text for r in answers]
    for a in admin.get("/admin/leader-applications?status=pending").get_json()["items"]:
        r = admin.post(f"/admin/leader-applications/{a['id']}/approve")
        assert r.status_code == 409 and r.get_json()["code"] == "already_leader"


def test_two_applications_of_one_user_approved_at_once_make_one_leader(app, client, admin):
    """Rows from before the one-pending rule (the index is dropped here to make them): two
    operators approve both at once; leaders.user_id lets one through and the other is a 409
    already_leader, never a 500 (threads; truly concurrent on PostgreSQL, serialised on SQLite)."""
    from sqlalchemy import text

    applicant = login(client, "legacy")
    pp = APPLICATION["pickup_point"]
    with app.app_context(), transaction() as s:
        s.execute(text("DROP INDEX uq_leader_applications_user_pending"))
        rows = [LeaderApplication(user_id=applicant.user["id"], real_name="x", phone="1", point_name=pp["name"],
                                  point_address=pp["address"], lat=pp["lat"], lng=pp["lng"]) for _ in range(2)]
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows]
    other_admin = login(client, "admin-3", admin=True)
    with serving(app) as base:
        answers = together(2, lambda i: requests.post(
            f"{base}/api/v1/admin/leader-applications/{ids[i]}/approve", timeout=60,
            headers=(admin, other_admin)[i].headers))
    got = sorted((r.status_code, r.json().get("code")) for r in answers)
    assert got == [(200, None), (409, "already_leader")], got
