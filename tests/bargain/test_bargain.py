"""Bargain: starting once, helping (never oneself, once per record, a few times a day), the last
needed cut on the floor, expiry, and one order per record at the current price."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update
from sqlmodel import select

from app.bargain.jobs import expire_bargain_records_job
from app.bargain.models import BargainRecord
from app.db import transaction
from app.notify.models import Notification
from tests.conftest import login


def make_bargain(admin, sku_id: int, **kw) -> dict:
    now = datetime.now(timezone.utc)
    body = {"sku_id": sku_id, "start_price": 1990, "floor_price": 990, "helpers_needed": 3, "duration_s": 3600,
            "starts_at": (now - timedelta(minutes=1)).isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()}
    body.update(kw)
    r = admin.post("/admin/bargains", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.fixture
def owner(client, leader):
    api = login(client, "bargainer", nickname="砍价人")
    api.put("/me/pickup-point", json={"pickup_point_id": leader[1]["pickup_point_id"]})
    return api


def helpers(client, n, prefix="h"):
    return [login(client, f"{prefix}-{i}", nickname=f"好友{i}") for i in range(n)]


def test_a_record_starts_at_the_start_price_once_per_user_and_campaign(client, admin, product, owner):
    b = make_bargain(admin, product["skus"][0]["id"])
    r = owner.post(f"/bargains/{b['id']}/start")
    assert r.status_code == 201, r.get_json()
    rec = r.get_json()
    assert (rec["current_price"], rec["floor_price"], rec["helpers"], rec["status"]) == (1990, 990, [], "active")
    r = owner.post(f"/bargains/{b['id']}/start")
    assert r.status_code == 409 and r.get_json()["code"] == "already_started"


def test_a_campaign_whose_gap_cannot_hold_a_fen_per_helper_is_refused(admin, product):
    now = datetime.now(timezone.utc)
    r = admin.post("/admin/bargains", json={"sku_id": product["skus"][0]["id"], "start_price": 1000,
                                            "floor_price": 998, "helpers_needed": 3, "duration_s": 3600,
                                            "starts_at": now.isoformat(),
                                            "ends_at": (now + timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and r.get_json()["code"] == "validation_error"


def test_helpers_cut_to_exactly_the_floor_and_the_buyer_is_told(client, admin, product, owner, app):
    b = make_bargain(admin, product["skus"][0]["id"])
    rec = owner.post(f"/bargains/{b['id']}/start").get_json()
    h = helpers(client, 4)
    r = owner.post(f"/bargain-records/{rec['id']}/help")
    assert r.status_code == 409 and r.get_json()["code"] == "cannot_help_self"
    cuts = []
    for api in h[:3]:
        r = api.post(f"/bargain-records/{rec['id']}/help")
        assert r.status_code == 200, r.get_json()
        cuts.append(r.get_json()["cut"])
    assert all(c >= 1 for c in cuts) and sum(cuts) == 1000
    assert r.get_json() == {"cut": cuts[-1], "current_price": 990, "status": "completed"}
    r = h[0].post(f"/bargain-records/{rec['id']}/help")
    assert r.status_code == 409 and r.get_json()["code"] in ("already_helped", "completed")
    r = h[3].post(f"/bargain-records/{rec['id']}/help")
    assert r.status_code == 409 and r.get_json()["code"] == "completed"
    view = h[3].get(f"/bargain-records/{rec['id']}").get_json()
    assert [x["cut"] for x in view["helpers"]] == cuts and [x["nickname"] for x in view["helpers"]] == \
        ["好友0", "好友1", "好友2"]
    with app.app_context(), transaction() as s:
        assert s.exec(select(Notification.event).where(Notification.user_id == owner.user["id"])).all() == \
            ["bargain.completed"]


def test_a_helper_helps_a_record_once(client, admin, product, owner):
    b = make_bargain(admin, product["skus"][0]["id"])
    rec = owner.post(f"/bargains/{b['id']}/start").get_json()
    [h] = helpers(client, 1)
    assert h.post(f"/bargain-records/{rec['id']}/help").status_code == 200
    r = h.post(f"/bargain-records/{rec['id']}/help")
    assert r.status_code == 409 and r.get_json()["code"] == "already_helped"


def test_a_helper_helps_at_most_the_daily_number_of_times(client, admin, product, make_settings):
    b = make_bargain(admin, product["skus"][0]["id"], helps_per_day=2)
    [h] = helpers(client, 1)
    codes = []
    for i in range(3):
        o = login(client, f"owner-{i}")
        rec = o.post(f"/bargains/{b['id']}/start").get_json()
        r = h.post(f"/bargain-records/{rec['id']}/help")
        codes.append(r.status_code if r.status_code == 200 else r.get_json()["code"])
    assert codes == [200, 200, "help_limit_reached"]


def test_an_expired_record_refuses_help_and_orders_and_frees_the_slot(client, admin, product, owner, app):
    b = make_bargain(admin, product["skus"][0]["id"])
    rec = owner.post(f"/bargains/{b['id']}/start").get_json()
    with app.app_context(), transaction() as s:
        s.exec(update(BargainRecord).where(BargainRecord.id == rec["id"])
               .values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    [h] = helpers(client, 1)
    r = h.post(f"/bargain-records/{rec['id']}/help")
    assert r.status_code == 409 and r.get_json()["code"] == "expired"
    assert owner.post(f"/bargain-records/{rec['id']}/order", json={}).get_json()["code"] == "expired"
    with app.app_context():
        assert expire_bargain_records_job() == 1
        assert expire_bargain_records_job() == 0
    assert owner.get(f"/bargain-records/{rec['id']}").get_json()["status"] == "expired"
    assert owner.post(f"/bargains/{b['id']}/start").status_code == 201


def test_an_order_is_made_once_per_record_at_its_current_price(client, admin, product, owner):
    b = make_bargain(admin, product["skus"][0]["id"])
    rec = owner.post(f"/bargains/{b['id']}/start").get_json()
    [h] = helpers(client, 1)
    price = h.post(f"/bargain-records/{rec['id']}/help").get_json()["current_price"]
    r = owner.post(f"/bargain-records/{rec['id']}/order", json={}, headers={"Idempotency-Key": "k1"})
    assert r.status_code == 201, r.get_json()
    order = r.get_json()
    assert order["total"] == price and order["source"] == "bargain" and order["status"] == "pending_payment"
    again = owner.post(f"/bargain-records/{rec['id']}/order", json={}, headers={"Idempotency-Key": "k1"})
    assert again.status_code == 201 and again.get_json()["id"] == order["id"]
    r = owner.post(f"/bargain-records/{rec['id']}/order", json={})
    assert r.status_code == 409 and r.get_json()["code"] == "already_ordered"
    # Nobody else orders my record.
    assert h.post(f"/bargain-records/{rec['id']}/order", json={}).status_code == 404


def test_a_floor_only_bargain_refuses_an_order_above_the_floor(client, admin, product, owner):
    b = make_bargain(admin, product["skus"][0]["id"], buy_at_any_price=False, helpers_needed=1)
    rec = owner.post(f"/bargains/{b['id']}/start").get_json()
    r = owner.post(f"/bargain-records/{rec['id']}/order", json={})
    assert r.status_code == 409 and r.get_json()["code"] == "floor_not_reached"
    [h] = helpers(client, 1)
    assert h.post(f"/bargain-records/{rec['id']}/help").get_json()["current_price"] == 990
    r = owner.post(f"/bargain-records/{rec['id']}/order", json={})
    assert r.status_code == 201 and r.get_json()["total"] == 990


def test_an_order_needs_no_body_and_a_campaigns_own_stock_is_taken_and_given_back(client, admin, product, owner,
                                                                                   app):
    from app.bargain.models import Bargain
    b = make_bargain(admin, product["skus"][0]["id"], stock=1)
    rec = owner.post(f"/bargains/{b['id']}/start").get_json()
    r = owner.post(f"/bargain-records/{rec['id']}/order")
    assert r.status_code == 201, r.get_json()
    with app.app_context(), transaction() as s:
        assert s.get(Bargain, b["id"]).stock_left == 0
    assert owner.post(f"/orders/{r.get_json()['id']}/cancel").get_json()["status"] == "cancelled"
    with app.app_context(), transaction() as s:
        assert s.get(Bargain, b["id"]).stock_left == 1
    assert client.get("/api/v1/products").get_json()["items"][0]["skus"][0]["stock_available"] == 99
