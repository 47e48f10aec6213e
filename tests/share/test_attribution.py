"""Attribution: an order placed within LINLI_SHARE_ATTRIBUTION_DAYS after its buyer opened a share
whose target it contains carries that share's token; the latest opened wins; never the buyer's own.
Visits are moved back in time in the database, never slept through."""
from __future__ import annotations

from tests.conftest import login, make_product
from tests.flashsale.test_flash_basics import drain_all, make_sale
from tests.groupbuy.helpers import make_campaign
from tests.share.helpers import bound, open_, opened_days_ago, order, share


def _placed(api, sku_id, point_id=None):
    r = order(api, sku_id, point_id)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_an_order_six_days_after_the_open_carries_the_share_and_eight_days_after_does_not(
        app, client, leader, product):
    _, point = leader
    sku_id = product["skus"][0]["id"]
    token = share(bound(client, "sharer", point["pickup_point_id"]), "product", product["id"])["token"]
    buyer = login(client, "visitor")
    open_(buyer, token)
    opened_days_ago(app, token, buyer.user["id"], 6)
    assert _placed(buyer, sku_id)["share_token"] == token
    opened_days_ago(app, token, buyer.user["id"], 8)
    assert _placed(buyer, sku_id)["share_token"] is None
    # Opening it again restarts the window (the latest open is the clock).
    open_(buyer, token)
    assert _placed(buyer, sku_id)["share_token"] == token


def test_the_latest_opened_share_wins_and_one_for_another_product_never_counts(app, client, admin, leader, product):
    _, point = leader
    sku_id = product["skus"][0]["id"]
    other = make_product(admin, name="土鸡蛋", skus=(("10枚", 1500, 100),))
    first = share(bound(client, "first", point["pickup_point_id"]), "product", product["id"])["token"]
    second = share(bound(client, "second", point["pickup_point_id"]), "product", product["id"])["token"]
    elsewhere = share(bound(client, "third", point["pickup_point_id"]), "product", other["id"])["token"]
    buyer = login(client, "visitor")
    open_(buyer, second)
    open_(buyer, first)
    opened_days_ago(app, second, buyer.user["id"], 1)
    opened_days_ago(app, first, buyer.user["id"], 2)
    open_(buyer, elsewhere)  # the newest open, but for a product this order does not contain
    got = _placed(buyer, sku_id)
    assert got["share_token"] == second
    listed = buyer.get(f"/orders/{got['id']}").get_json()
    assert listed["share_token"] == second


def test_a_buyer_ordering_through_their_own_share_is_never_attributed(client, leader, product):
    _, point = leader
    sharer = bound(client, "sharer", point["pickup_point_id"])
    token = share(sharer, "product", product["id"])["token"]
    open_(sharer, token)
    assert _placed(sharer, product["skus"][0]["id"])["share_token"] is None


def test_a_group_share_is_carried_by_the_order_that_joins_that_group(client, admin, leader, product):
    _, point = leader
    campaign = make_campaign(admin, product["skus"][0]["id"])
    opener = bound(client, "opener", point["pickup_point_id"])
    group = opener.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()["group"]
    token = share(opener, "group", group["id"])["token"]
    friend = login(client, "friend")
    open_(friend, token)  # a newcomer: bound to the opener's point by the open
    r = friend.post(f"/groups/{group['id']}/join", json={})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["order"]["share_token"] == token
    # Another group of the same campaign is not the shared group.
    loner = bound(client, "loner", point["pickup_point_id"])
    other = loner.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()["group"]
    r = friend.post(f"/groups/{other['id']}/join", json={})
    assert r.status_code == 201 and r.get_json()["order"]["share_token"] is None


def test_a_bargain_record_share_is_carried_by_that_records_order(client, admin, leader, product):
    _, point = leader
    bargain = admin.post("/admin/bargains", json={
        "sku_id": product["skus"][0]["id"], "start_price": 1990, "floor_price": 990, "helpers_needed": 3,
        "duration_s": 3600, "starts_at": "2020-01-01T00:00:00+00:00", "ends_at": "2099-01-01T00:00:00+00:00"}
    ).get_json()
    owner = bound(client, "owner", point["pickup_point_id"])
    record = owner.post(f"/bargains/{bargain['id']}/start").get_json()
    # A helper passes the record on; the owner comes back through the helper's share.
    helper = bound(client, "helper", point["pickup_point_id"])
    token = share(helper, "bargain_record", record["id"])["token"]
    open_(owner, token)
    r = owner.post(f"/bargain-records/{record['id']}/order", json={})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["share_token"] == token


def test_a_flash_sale_share_is_carried_by_the_orders_the_drain_creates(app, client, admin, leader, product):
    _, point = leader
    sale = make_sale(admin, product["skus"][0]["id"], stock=5, limit=2)
    token = share(bound(client, "sharer", point["pickup_point_id"]), "flash_sale", sale["id"])["token"]
    visitor, stranger = login(client, "visitor"), bound(client, "stranger", point["pickup_point_id"])
    open_(visitor, token)
    for api in (visitor, stranger):
        assert api.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).status_code == 202
    assert drain_all(app) == 2
    (mine,) = visitor.get("/orders").get_json()["items"]
    (theirs,) = stranger.get("/orders").get_json()["items"]
    assert (mine["source"], mine["share_token"]) == ("flash_sale", token)
    assert theirs["share_token"] is None
