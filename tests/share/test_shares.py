"""Share links: the token, the page, opening (a visit once per visitor, binding newcomers) and the
sharer's list."""
from __future__ import annotations

import re

import requests
from sqlalchemy import func, update
from sqlmodel import select

from app.db import transaction
from app.leader.models import Leader
from app.share.models import ShareOpen
from tests.concurrency import run_together
from tests.conftest import login, make_leader
from tests.flashsale.test_flash_basics import make_sale
from tests.groupbuy.helpers import make_campaign
from tests.http_server import serving
from tests.share.helpers import bound, open_, share


def test_a_share_has_a_short_base62_token_and_the_page_that_carries_it(client, leader, product):
    _, point = leader
    sharer = bound(client, "sharer", point["pickup_point_id"])
    s = share(sharer, "product", product["id"])
    assert re.fullmatch(r"[0-9A-Za-z]{16,32}", s["token"]), s["token"]
    assert s["path"] == f"pages/product/detail?id={product['id']}&share={s['token']}"
    assert s["target_type"] == "product" and s["target_id"] == product["id"]
    assert s["sharer_id"] == sharer.user["id"] and s["leader_id"] == point["leader_id"]
    # The same sharer sharing the same thing again gets the same token (one set of figures).
    assert share(sharer, "product", product["id"])["token"] == s["token"]
    # Tokens are random: another sharer's differs.
    other = share(bound(client, "sharer-2", point["pickup_point_id"]), "product", product["id"])
    assert other["token"] != s["token"]


def test_an_unbound_sharer_shares_without_a_leader(client, product):
    s = share(login(client, "drifter"), "product", product["id"])
    assert s["leader_id"] is None


def test_every_kind_of_target_can_be_shared_and_an_unknown_one_is_404(client, admin, leader, product):
    _, point = leader
    sharer = bound(client, "sharer", point["pickup_point_id"])
    sku_id = product["skus"][0]["id"]
    sale = make_sale(admin, sku_id)
    campaign = make_campaign(admin, sku_id)
    group = sharer.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()["group"]
    bargain = admin.post("/admin/bargains", json={
        "sku_id": sku_id, "start_price": 1990, "floor_price": 990, "helpers_needed": 3, "duration_s": 3600,
        "starts_at": "2020-01-01T00:00:00+00:00", "ends_at": "2099-01-01T00:00:00+00:00"}).get_json()
    record = sharer.post(f"/bargains/{bargain['id']}/start").get_json()
    for kind, target_id, page in (("flash_sale", sale["id"], "pages/flash-sale/detail"),
                                  ("group", group["id"], "pages/group/detail"),
                                  ("bargain_record", record["id"], "pages/bargain/record")):
        s = share(sharer, kind, target_id)
        assert s["path"] == f"{page}?id={target_id}&share={s['token']}"
        r = sharer.post("/shares", json={"target_type": kind, "target_id": 999999})
        assert r.status_code == 404 and r.get_json()["code"] == "share_target_not_found"
    r = sharer.post("/shares", json={"target_type": "product", "target_id": 999999})
    assert r.status_code == 404 and r.get_json()["code"] == "share_target_not_found"
    r = sharer.post("/shares", json={"target_type": "coupon", "target_id": 1})
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    r = sharer.post("/shares/not-a-token!/open")
    assert r.status_code in (404, 422) and r.mimetype == "application/problem+json"
    r = sharer.post("/shares/abc123/open")
    assert r.status_code == 404 and r.get_json()["code"] == "share_not_found"


def test_opening_records_one_visit_per_visitor_and_none_for_the_sharer(client, leader, product):
    _, point = leader
    sharer = bound(client, "sharer", point["pickup_point_id"], nickname="分享人")
    s = share(sharer, "product", product["id"])
    me = open_(sharer, s["token"])
    assert me["bound"] is False and me["sharer"] == {"nickname": "分享人"}
    assert sharer.get("/me/shares").get_json()["items"][0]["visits"] == 0
    visitor = login(client, "visitor")
    body = open_(visitor, s["token"])
    assert body["target_type"] == "product" and body["target_id"] == product["id"]
    assert body["leader"]["id"] == point["leader_id"] and body["pickup_point"]["id"] == point["pickup_point_id"]
    open_(visitor, s["token"])
    open_(login(client, "visitor-2"), s["token"])
    (mine,) = sharer.get("/me/shares").get_json()["items"]
    assert mine["token"] == s["token"] and mine["visits"] == 2 and mine["orders"] == 0


def test_twenty_concurrent_opens_by_one_visitor_count_once(app, client, leader, product):
    """Real threads over HTTP; on PostgreSQL they truly race for the unique key (SQLite serialises
    writers, so there it only shows the upsert is right)."""
    _, point = leader
    sharer = bound(client, "sharer", point["pickup_point_id"])
    token = share(sharer, "product", product["id"])["token"]
    visitor = login(client, "eager")
    with serving(app) as base:
        results = run_together(20, lambda i: requests.post(
            f"{base}/api/v1/shares/{token}/open", headers=visitor.headers, timeout=60).status_code)
    assert results == [200] * 20, results
    with app.app_context(), transaction() as s:
        assert s.exec(select(func.count(ShareOpen.id))).one() == 1
    assert sharer.get("/me/shares").get_json()["items"][0]["visits"] == 1
    assert visitor.get("/me").get_json()["pickup_point_id"] == point["pickup_point_id"]


def test_my_shares_are_listed_newest_first_a_page_at_a_time(client, admin, product):
    sharer = login(client, "prolific")
    others = [make_product_named(admin, f"菜{i}") for i in range(2)]
    tokens = [share(sharer, "product", p["id"])["token"] for p in [product, *others]]
    first = sharer.get("/me/shares?limit=2").get_json()
    assert [x["token"] for x in first["items"]] == tokens[::-1][:2] and first["next_cursor"]
    rest = sharer.get(f"/me/shares?limit=2&cursor={first['next_cursor']}").get_json()
    assert [x["token"] for x in rest["items"]] == tokens[:1] and rest["next_cursor"] is None
    assert login(client, "someone-else").get("/me/shares").get_json()["items"] == []


def make_product_named(admin, name):
    from tests.conftest import make_product
    return make_product(admin, name=name)


def _two_points(client, admin):
    (_, near), (_, far) = make_leader(client, admin), make_leader(client, admin, lat=30.30, lng=120.10)
    return near, far


def test_a_newcomer_is_bound_to_the_sharers_point_and_a_bound_buyer_stays(client, admin, product):
    near, far = _two_points(client, admin)
    token = share(bound(client, "sharer", near["pickup_point_id"]), "product", product["id"])["token"]
    newcomer = login(client, "newcomer")
    assert open_(newcomer, token)["bound"] is True
    assert newcomer.get("/me").get_json()["pickup_point_id"] == near["pickup_point_id"]
    regular = bound(client, "regular", far["pickup_point_id"])
    assert open_(regular, token)["bound"] is False
    assert regular.get("/me").get_json()["pickup_point_id"] == far["pickup_point_id"]


def test_binding_mode_off_never_binds(app, client, admin, product):
    near, _ = _two_points(client, admin)
    app.extensions["linli.settings"].binding_mode = "off"
    token = share(bound(client, "sharer", near["pickup_point_id"]), "product", product["id"])["token"]
    newcomer = login(client, "newcomer")
    assert open_(newcomer, token)["bound"] is False
    assert newcomer.get("/me").get_json()["pickup_point_id"] is None


def test_binding_mode_override_always_binds(app, client, admin, product):
    near, far = _two_points(client, admin)
    app.extensions["linli.settings"].binding_mode = "override"
    token = share(bound(client, "sharer", near["pickup_point_id"]), "product", product["id"])["token"]
    regular = bound(client, "regular", far["pickup_point_id"])
    assert open_(regular, token)["bound"] is True
    assert regular.get("/me").get_json()["pickup_point_id"] == near["pickup_point_id"]


def test_a_suspended_leaders_point_binds_nobody(app, client, admin, product):
    near, _ = _two_points(client, admin)
    token = share(bound(client, "sharer", near["pickup_point_id"]), "product", product["id"])["token"]
    with app.app_context(), transaction() as s:
        s.exec(update(Leader).where(Leader.id == near["leader_id"]).values(active=False))
    newcomer = login(client, "newcomer")
    assert open_(newcomer, token)["bound"] is False
    assert newcomer.get("/me").get_json()["pickup_point_id"] is None
