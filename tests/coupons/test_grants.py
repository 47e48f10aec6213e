"""A leader's grants to their fans (团长专享): within the quota the operator gave, one coupon to each
fan of the segment who holds none yet, each told by a notification, a socket event and (if a
template is configured) a subscribe message. SQLite and PostgreSQL."""
from __future__ import annotations

import json

import pytest
from redis import Redis
from sqlmodel import select

from app.db import transaction
from app.subscribe.models import SubscribeSend
from tests.conftest import Api, login, make_leader
from tests.coupons.test_coupons import claim, make_template


@pytest.fixture
def settings_overrides():
    return {"wechat_templates": {"coupon_granted": "tmpl-coupon"}}


def fans_of(client, point_id: int, n: int, prefix: str = "fan") -> list[Api]:
    fans = []
    for i in range(n):
        fan = login(client, f"{prefix}-{i}")
        assert fan.put("/me/pickup-point", json={"pickup_point_id": point_id}).status_code == 200
        fans.append(fan)
    return fans


def set_quota(admin: Api, template_id: int, leader_id: int, quota: int):
    return admin.post(f"/admin/coupon-templates/{template_id}/leader-quotas",
                      json={"leader_id": leader_id, "quota": quota})


def test_a_grant_reaches_each_fan_once_and_stops_at_the_quota(app, client, admin, leader, redis_server):
    leader_api, approved = leader
    fans = fans_of(client, approved["pickup_point_id"], 5)
    t = make_template(admin, claimable=False, total=100)
    assert set_quota(admin, t["id"], approved["leader_id"], 3).get_json()["quota_left"] == 3
    pubsub = Redis.from_url(redis_server.url()).pubsub()
    pubsub.subscribe(*[f"linli:user:{f.user['id']}" for f in fans])
    pubsub.get_message(timeout=1)

    r = leader_api.post("/leader/coupon-grants", json={"template_id": t["id"], "segment": "all"})

    assert r.status_code == 201, r.get_json()
    assert (r.get_json()["granted"], r.get_json()["quota_left"]) == (3, 0)
    got = [f for f in fans if f.get("/me/coupons").get_json()["items"]]
    assert [f.user["id"] for f in got] == [f.user["id"] for f in fans[:3]]  # lowest user id first
    for f in got:
        [c] = f.get("/me/coupons").get_json()["items"]
        assert (c["status"], c["leader_id"], c["template"]["id"]) == ("unused", approved["leader_id"], t["id"])
        notes = f.get("/me/notifications").get_json()["items"]
        assert [n["kind"] for n in notes] == ["coupon.granted"] and notes[0]["data"]["coupon_id"] == c["id"]
    events = []
    for _ in range(50):
        m = pubsub.get_message(timeout=0.2)
        if m and m["type"] == "message":
            events.append((m["channel"].decode(), json.loads(m["data"])["event"]))
        if len(events) == 3:
            break
    assert sorted(events) == sorted((f"linli:user:{f.user['id']}", "coupon.granted") for f in got)
    with app.app_context(), transaction() as s:
        sends = s.exec(select(SubscribeSend).where(SubscribeSend.kind == "coupon_granted")).all()
        assert sorted(x.user_id for x in sends) == sorted(f.user["id"] for f in got)
        assert {x.template_id for x in sends} == {"tmpl-coupon"} and sends[0].page == "pages/coupon/list"

    again = leader_api.post("/leader/coupon-grants", json={"template_id": t["id"], "segment": "all"})
    assert again.status_code == 409 and again.get_json()["code"] == "no_coupon_quota"
    # more quota: the two fans left get one, the three who hold one are skipped
    set_quota(admin, t["id"], approved["leader_id"], 10)
    r = leader_api.post("/leader/coupon-grants", json={"template_id": t["id"], "segment": "all"})
    assert (r.get_json()["granted"], r.get_json()["quota_left"]) == (2, 5)
    r = leader_api.post("/leader/coupon-grants", json={"template_id": t["id"], "segment": "all"})
    assert (r.status_code, r.get_json()["granted"], r.get_json()["quota_left"]) == (201, 0, 5)
    stats = admin.get(f"/admin/coupon-templates/{t['id']}").get_json()
    assert stats["issued"] == 5 and [(x["quota"], x["granted"]) for x in stats["leaders"]] == [(10, 5)]
    assert set_quota(admin, t["id"], approved["leader_id"], 4).get_json()["code"] == "quota_below_granted"
    quotas = leader_api.get("/leader/coupon-quotas").get_json()["items"]
    assert [(q["template"]["id"], q["quota"], q["granted"], q["quota_left"]) for q in quotas] == [(t["id"], 10, 5, 5)]


def test_a_grant_goes_only_to_the_segment_and_skips_fans_who_claimed_one(client, admin, leader):
    leader_api, approved = leader
    fans = fans_of(client, approved["pickup_point_id"], 3)
    stranger = login(client, "not-a-fan")
    t = make_template(admin, total=100)
    claim(fans[0], t["id"])
    set_quota(admin, t["id"], approved["leader_id"], 50)

    # "active": ordered here in the last 14 days: nobody yet
    r = leader_api.post("/leader/coupon-grants", json={"template_id": t["id"], "segment": "active"})
    assert r.get_json()["granted"] == 0
    r = leader_api.post("/leader/coupon-grants", json={"template_id": t["id"], "segment": "new"})
    assert (r.get_json()["granted"], r.get_json()["quota_left"]) == (2, 48)
    assert len(fans[0].get("/me/coupons").get_json()["items"]) == 1  # their own, not a second
    assert stranger.get("/me/coupons").get_json()["items"] == []
    assert admin.get(f"/admin/coupon-templates/{t['id']}").get_json()["issued"] == 3


def test_a_grant_needs_a_quota_and_a_template_that_has_not_ended(client, admin, leader):
    leader_api, approved = leader
    fans_of(client, approved["pickup_point_id"], 1)
    t = make_template(admin)
    r = leader_api.post("/leader/coupon-grants", json={"template_id": t["id"], "segment": "all"})
    assert r.status_code == 409 and r.get_json()["code"] == "no_coupon_quota"
    r = leader_api.post("/leader/coupon-grants", json={"template_id": 999999, "segment": "all"})
    assert r.status_code == 404 and r.get_json()["code"] == "coupon_template_not_found"
    other_api, other = make_leader(client, admin, lat=31.2304, lng=121.4737)
    set_quota(admin, t["id"], other["leader_id"], 5)  # someone else's quota is not mine
    r = leader_api.post("/leader/coupon-grants", json={"template_id": t["id"], "segment": "all"})
    assert r.get_json()["code"] == "no_coupon_quota"
    assert set_quota(admin, t["id"], 999999, 5).get_json()["code"] == "leader_not_found"


def test_a_grant_stops_at_the_templates_total(client, admin, leader):
    leader_api, approved = leader
    fans_of(client, approved["pickup_point_id"], 4)
    t = make_template(admin, total=2, claimable=False)
    set_quota(admin, t["id"], approved["leader_id"], 10)
    r = leader_api.post("/leader/coupon-grants", json={"template_id": t["id"], "segment": "all"})
    assert (r.get_json()["granted"], r.get_json()["quota_left"]) == (2, 8)
    r = leader_api.post("/leader/coupon-grants", json={"template_id": t["id"], "segment": "all"})
    assert r.status_code == 409 and r.get_json()["code"] == "coupons_gone"
