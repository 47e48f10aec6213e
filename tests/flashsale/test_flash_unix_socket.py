"""A sale's Redis reached over a Unix socket (LINLI_FLASH_REDIS_URL=unix:///path?db=N), the way
a Redis on the API's own host is cheapest to reach: concurrent purchases stay exact, and the
hot path's kept connection notices one the server dropped."""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis import Redis

from app.flashsale import service as flash
from tests.flashsale.test_flash_basics import bound_buyer, make_sale

FLASH_DB = 7


@pytest.fixture
def settings_overrides(redis_server):
    Redis.from_url(redis_server.unix_url(FLASH_DB)).flushdb()
    return {"flash_redis_url": redis_server.unix_url(FLASH_DB)}


def test_purchases_over_a_unix_socket_are_exact_and_survive_a_dropped_connection(app, admin, product, leader, client,
                                                                                  redis_server):
    sale = make_sale(admin, product["skus"][0]["id"], stock=10, limit=2)["id"]
    point = leader[1]["pickup_point_id"]
    tokens = [bound_buyer(client, f"ux{i}", point).headers for i in range(8)]

    def one(headers):
        r = app.test_client().post(f"/api/v1/flash-sales/{sale}/purchase", json={"qty": 1}, headers=headers)
        return r.status_code, r.get_json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, [h for h in tokens for _ in range(3)]))  # 24 tries for 10 units
    assert Counter(status for status, _ in results)[202] == 10
    assert {b["code"] for status, b in results if status != 202} <= {"sold_out", "limit_exceeded"}

    over_socket = Redis.from_url(redis_server.unix_url(FLASH_DB))
    assert over_socket.get(f"{{fs:{sale}}}:left") == b"0"
    assert not Redis.from_url(redis_server.url()).keys("{fs:*")  # none on the plain (TCP, db 0) Redis
    with app.app_context():
        assert flash.rds().connection_pool.connection_class.__name__ == "UnixDomainSocketConnection"

    # Give two units back, drop every connection the server holds, and buy again.
    sale2 = make_sale(admin, product["skus"][0]["id"], stock=2, limit=2)["id"]
    buyer = tokens[0]
    assert app.test_client().post(f"/api/v1/flash-sales/{sale2}/purchase", json={"qty": 1},
                                  headers=buyer).status_code == 202
    over_socket.client_kill_filter(_type="normal", skipme=True)
    r = app.test_client().post(f"/api/v1/flash-sales/{sale2}/purchase", json={"qty": 1}, headers=buyer)
    assert r.status_code == 202, r.get_json()
    assert Redis.from_url(redis_server.unix_url(FLASH_DB)).get(f"{{fs:{sale2}}}:left") == b"0"
