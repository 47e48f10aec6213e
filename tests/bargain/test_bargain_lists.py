"""Listing bargain campaigns: GET /bargains (anonymous; running and upcoming only) and
GET /admin/bargains (every campaign with its state and sales). On both databases."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.bargain.test_bargain import make_bargain
from tests.conftest import login


@pytest.fixture
def owner(client, leader):
    api = login(client, "bargainer", nickname="砍价人")
    api.put("/me/pickup-point", json={"pickup_point_id": leader[1]["pickup_point_id"]})
    return api


def iso(delta):
    return (datetime.now(timezone.utc) + delta).isoformat()


def test_buyers_see_running_and_upcoming_campaigns_and_operators_see_every_state(client, admin, product, owner):
    sku = product["skus"][0]["id"]
    running = make_bargain(admin, sku)
    upcoming = make_bargain(admin, sku, starts_at=iso(timedelta(hours=1)), ends_at=iso(timedelta(days=1)))
    ended = make_bargain(admin, sku, starts_at=iso(timedelta(days=-2)), ends_at=iso(timedelta(seconds=-1)))
    rec = owner.post(f"/bargains/{running['id']}/start").get_json()
    assert owner.post(f"/bargain-records/{rec['id']}/order", json={}).status_code == 201

    r = client.get("/api/v1/bargains")  # no token
    assert r.status_code == 200
    assert [b["id"] for b in r.get_json()["items"]] == [upcoming["id"], running["id"]]

    r = admin.get("/admin/bargains")
    assert r.status_code == 200, r.get_json()
    got = {b["id"]: (b["state"], b["records_started"], b["orders"]) for b in r.get_json()["items"]}
    assert got == {running["id"]: ("running", 1, 1), upcoming["id"]: ("upcoming", 0, 0), ended["id"]: ("ended", 0, 0)}

    first = admin.get("/admin/bargains", query_string={"limit": 2}).get_json()
    assert [b["id"] for b in first["items"]] == [ended["id"], upcoming["id"]]
    rest = admin.get("/admin/bargains", query_string={"limit": 2, "cursor": first["next_cursor"]}).get_json()
    assert [b["id"] for b in rest["items"]] == [running["id"]] and rest["next_cursor"] is None


def test_only_operators_list_every_campaign(client, owner):
    assert owner.get("/admin/bargains").status_code == 403
    assert client.get("/api/v1/admin/bargains").status_code == 401
