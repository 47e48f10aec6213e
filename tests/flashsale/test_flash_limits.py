"""Bots: the purchase endpoint is rate limited per user and per address (flask-limiter on Redis),
answering 429 problem+json with Retry-After; a blocked user is refused inside the sale's script."""
from __future__ import annotations

import pytest
from redis import Redis

from app.flashsale import service as flash
from tests.conftest import login
from tests.flashsale.test_flash_basics import make_sale

APART_DB = 9  # the sales' Redis elsewhere: the limits are counted by their own script first


@pytest.fixture(params=["together", "apart"])
def settings_overrides(request, redis_server):
    """Both ways the limits are counted: inside the purchase script (the sales' Redis is the rate
    limits' own, the default) and by a script of their own (the sales' Redis elsewhere)."""
    limits = {"ratelimit_enabled": True, "flash_ratelimit_user": "3 per minute", "flash_ratelimit_ip": "5 per minute"}
    if request.param == "apart":
        Redis.from_url(redis_server.url(APART_DB)).flushdb()
        limits["flash_redis_url"] = redis_server.url(APART_DB)
    return limits


def test_one_user_past_the_per_user_limit_gets_429_with_retry_after(admin, product, client):
    sale = make_sale(admin, product["skus"][0]["id"], stock=50, limit=50)
    bot = login(client, "bot")
    statuses = [bot.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1, "pickup_point_id": 1}).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    r = bot.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1, "pickup_point_id": 1})
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    assert r.get_json()["code"] == "rate_limited" and int(r.headers["Retry-After"]) > 0


def test_many_users_from_one_address_meet_the_per_address_limit(admin, product, client):
    sale = make_sale(admin, product["skus"][0]["id"], stock=50, limit=50)
    users = [login(client, f"farm-{i}") for i in range(6)]
    statuses = [u.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1, "pickup_point_id": 1}).status_code for u in users]
    assert statuses == [202] * 5 + [429]


def test_a_blocked_user_is_refused_by_the_script_and_let_back_in(app, admin, product, client):
    sale = make_sale(admin, product["skus"][0]["id"], stock=5, limit=5)
    user = login(client, "blocked")
    with app.app_context():
        flash.block_user(user.user["id"])
    r = user.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1, "pickup_point_id": 1})
    assert r.status_code == 403 and r.get_json()["code"] == "user_blocked"
    later = make_sale(admin, product["skus"][0]["id"], stock=5, limit=5)  # a new sale knows the block too
    assert user.post(f"/flash-sales/{later['id']}/purchase", json={"qty": 1, "pickup_point_id": 1}).get_json()["code"] == "user_blocked"
    with app.app_context():
        flash.block_user(user.user["id"], blocked=False)
    assert user.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1, "pickup_point_id": 1}).status_code == 202


def test_the_limits_and_the_purchase_cost_one_round_trip_on_one_redis(app, admin, product, client, settings_overrides):
    """Counting the per-user and per-address limits is no hit per limit plus reads for headers
    (flask-limiter's decorators made four round trips a purchase), and the route is exempt from
    the default limit (its hit and header reads would show here too). With the sales on the
    rate limits' own Redis, limits and purchase are ONE script call; elsewhere, one each."""
    sale = make_sale(admin, product["skus"][0]["id"], stock=50, limit=50)
    bot = login(client, "counted")
    assert bot.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1, "pickup_point_id": 1}).status_code == 202  # scripts loaded
    r = Redis.from_url(app.extensions["linli.settings"].redis_url)  # one server: stats cover every db
    r.config_resetstat()
    assert bot.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1, "pickup_point_id": 1}).status_code == 202
    calls = {k: v["calls"] for k, v in r.info("commandstats").items()
             if not k.startswith(("cmdstat_config", "cmdstat_info"))}
    # Commands inside scripts are counted too: one INCR per limit, the purchase script's one GET;
    # no TTL/GET for headers.
    apart = "flash_redis_url" in settings_overrides
    assert calls["cmdstat_evalsha"] == (2 if apart else 1), calls
    assert calls["cmdstat_incr"] == 2 + 1 and calls.get("cmdstat_get") == 1 and "cmdstat_ttl" not in calls, calls


def test_a_limited_purchase_takes_nothing_and_its_refusal_is_not_remembered(app, admin, product, client):
    """Past a limit nothing is reserved, and an Idempotency-Key sent with a refused attempt is
    not burnt: once the window frees up, the same key reserves."""
    sale = make_sale(admin, product["skus"][0]["id"], stock=50, limit=50)
    bot = login(client, "keyed")
    for i in range(3):
        assert bot.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1, "pickup_point_id": 1},
                        headers={"Idempotency-Key": f"k{i}"}).status_code == 202
    r = bot.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1, "pickup_point_id": 1}, headers={"Idempotency-Key": "late"})
    assert r.status_code == 429
    assert client.get("/api/v1/flash-sales").get_json()["items"][0]["stock_left"] == 47
    counters = Redis.from_url(app.extensions["linli.settings"].redis_url)  # the rate limits' Redis, both ways
    counters.delete(*counters.keys("*fsu:*"))  # the user's window frees up (the address's has room left)
    r = bot.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1, "pickup_point_id": 1}, headers={"Idempotency-Key": "late"})
    assert r.status_code == 202, r.get_json()
    assert client.get("/api/v1/flash-sales").get_json()["items"][0]["stock_left"] == 46

