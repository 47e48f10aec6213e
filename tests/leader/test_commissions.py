from datetime import date, datetime, timedelta, timezone

import pytest

from app.commission.jobs import settle_commissions_job
from app.db import transaction
from tests.leader.test_workbench import paid_order, ship


def picked_up(app, leader_api, buyer, product, point_id, qty=1):
    o = paid_order(buyer, product, point_id, qty=qty)
    ship(app, o["delivery_date"])
    leader_api.post(f"/leader/deliveries/{o['delivery_date']}/receive")
    r = leader_api.post("/leader/pickups", json={"pickup_code": o["pickup_code"], "delivery_date": o["delivery_date"]})
    assert r.status_code == 200
    return o


def test_a_pickup_earns_the_default_rate_and_settles_after_the_freeze(app, client, admin, leader, product, buyer):
    leader_api, point = leader
    assert leader_api.get("/leader/commissions").get_json()["items"] == []
    o = picked_up(app, leader_api, buyer, product, point["pickup_point_id"], qty=3)  # 3 × 19.90
    book = leader_api.get("/leader/commissions").get_json()
    (entry,) = book["items"]
    assert entry["order_id"] == o["id"] and entry["amount"] == 597 and entry["status"] == "pending"
    settle_at = datetime.fromisoformat(entry["settle_at"])
    assert timedelta(days=6, hours=23) < settle_at - datetime.now(timezone.utc) <= timedelta(days=7)
    assert book["totals"] == {"pending": 597, "settled": 0, "reversed": 0, "earned": 597}
    with app.app_context():
        assert settle_commissions_job() == 0  # still frozen
        with transaction() as s:
            from app.commission import service

            assert service.settle_due(s, now=settle_at + timedelta(seconds=1)) == 1
    book = leader_api.get("/leader/commissions").get_json()
    assert book["items"][0]["status"] == "settled" and book["totals"]["settled"] == 597


def test_a_leader_specific_rate_overrides_the_default(app, client, admin, leader, product, buyer):
    leader_api, point = leader
    r = admin.patch(f"/admin/leaders/{point['leader_id']}", json={"commission_rate": 0.05})
    assert r.status_code == 200 and r.get_json()["commission_rate"] == 0.05
    picked_up(app, leader_api, buyer, product, point["pickup_point_id"], qty=2)
    assert leader_api.get("/leader/commissions").get_json()["items"][0]["amount"] == 199
    assert leader_api.get("/leader/commissions?status=settled").get_json()["items"] == []
    assert buyer.get("/leader/commissions").status_code == 403
