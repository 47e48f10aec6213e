import pytest

from app.commission.jobs import settle_commissions_job
from tests.leader.test_commissions import picked_up


@pytest.fixture
def settings_overrides():
    return {"commission_freeze_days": 0, "commission_rate": "12%"}


def test_the_settlement_job_settles_due_entries_and_a_refund_reverses(app, client, admin, leader, product, buyer, drain):
    leader_api, point = leader
    o = picked_up(app, leader_api, buyer, product, point["pickup_point_id"])
    assert leader_api.get("/leader/commissions").get_json()["items"][0]["amount"] == round(1990 * 0.12)
    with app.app_context():
        assert settle_commissions_job() == 1
        assert settle_commissions_job() == 0
    r = admin.post(f"/admin/orders/{o['id']}/refund", json={"reason": "坏果"})
    assert r.status_code == 200 and r.get_json()["status"] == "refunded"
    book = leader_api.get("/leader/commissions").get_json()
    assert book["items"][0]["status"] == "reversed"
    assert book["totals"]["earned"] == 0 and book["totals"]["reversed"] == 239
    assert admin.post(f"/admin/orders/{o['id']}/refund", json={}).status_code == 409
    drain()
