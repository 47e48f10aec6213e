"""Bots: the purchase endpoint is rate limited per user and per address (flask-limiter on Redis),
answering 429 problem+json with Retry-After; a blocked user is refused inside the sale's script."""
from __future__ import annotations

import pytest

from app.flashsale import service as flash
from tests.conftest import login
from tests.flashsale.test_flash_basics import make_sale


@pytest.fixture
def settings_overrides():
    return {"ratelimit_enabled": True, "flash_ratelimit_user": "3 per minute", "flash_ratelimit_ip": "5 per minute"}


def test_one_user_past_the_per_user_limit_gets_429_with_retry_after(admin, product, client):
    sale = make_sale(admin, product["skus"][0]["id"], stock=50, limit=50)
    bot = login(client, "bot")
    statuses = [bot.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    r = bot.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1})
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    assert r.get_json()["code"] == "rate_limited" and int(r.headers["Retry-After"]) > 0


def test_many_users_from_one_address_meet_the_per_address_limit(admin, product, client):
    sale = make_sale(admin, product["skus"][0]["id"], stock=50, limit=50)
    users = [login(client, f"farm-{i}") for i in range(6)]
    statuses = [u.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).status_code for u in users]
    assert statuses == [202] * 5 + [429]


def test_a_blocked_user_is_refused_by_the_script_and_let_back_in(app, admin, product, client):
    sale = make_sale(admin, product["skus"][0]["id"], stock=5, limit=5)
    user = login(client, "blocked")
    with app.app_context():
        flash.block_user(user.user["id"])
    r = user.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1})
    assert r.status_code == 403 and r.get_json()["code"] == "user_blocked"
    later = make_sale(admin, product["skus"][0]["id"], stock=5, limit=5)  # a new sale knows the block too
    assert user.post(f"/flash-sales/{later['id']}/purchase", json={"qty": 1}).get_json()["code"] == "user_blocked"
    with app.app_context():
        flash.block_user(user.user["id"], blocked=False)
    assert user.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).status_code == 202


def test_both_limits_cost_one_round_trip_to_redis(app, admin, product, client):
    """Counting the per-user and per-address limits is one script call, not a hit per limit plus
    reads for headers (flask-limiter's decorators made four round trips a purchase), and the
    route is exempt from the default limit (its hit and header reads would show here too)."""
    from redis import Redis

    sale = make_sale(admin, product["skus"][0]["id"], stock=50, limit=50)
    bot = login(client, "counted")
    assert bot.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).status_code == 202  # scripts loaded
    r = Redis.from_url(app.extensions["linli.settings"].redis_url)
    r.config_resetstat()
    assert bot.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).status_code == 202
    calls = {k: v["calls"] for k, v in r.info("commandstats").items()
             if not k.startswith(("cmdstat_config", "cmdstat_info"))}
    # The limits, then the purchase itself (commands inside scripts are counted too: one GET is
    # the purchase script's); no hit per limit, no TTL/GET for headers.
    assert calls["cmdstat_evalsha"] == 2 and calls.get("cmdstat_get") == 1 and "cmdstat_ttl" not in calls, calls

