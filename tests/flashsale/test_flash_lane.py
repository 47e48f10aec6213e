"""The purchase's lane (app.flashsale.lane) answers an ordinary purchase ahead of Flask: its
answers must be Flask's own, byte for byte. Each case runs through the app with the lane and
through a twin app without it (LINLI_FLASH_LANE off; same database, Redis and key), and the two
answers are compared whole: status, every header in order, body. The lane's hand-offs are counted,
and Redis's command counts show the sale's script ran once a request whichever side answered."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token
from redis import Redis

from app import create_app
from app.flashsale import service as flash
from app.flashsale.lane import PurchaseLane
from tests.conftest import login
from tests.flashsale.test_flash_basics import bound_buyer, make_sale
from tests.services import free_port

RID = "lane-test-request-1"


@pytest.fixture
def plain(app):
    """The same app without the lane."""
    twin = create_app(app.extensions["linli.settings"].model_copy(update={"flash_lane": False}))
    twin.config["TESTING"] = True
    yield twin
    twin.extensions["linli.engine"].dispose()


@pytest.fixture
def handed(app):
    """The requests the lane handed to Flask."""
    lane = app.wsgi_app.wsgi_app  # inside the request counting (app.observability.MeasuredApp)
    assert isinstance(lane, PurchaseLane)
    inner, calls = lane.wsgi_app, []

    def counting(environ, start_response):
        if environ["PATH_INFO"].endswith("/purchase"):
            calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    lane.wsgi_app = counting
    return calls


def answer(client, path, *, body=None, data=None, headers=None, content_type="application/json", query=""):
    r = client.post(path, data=json.dumps(body) if data is None else data, query_string=query,
                    headers={"X-Request-ID": RID, **(headers or {})}, content_type=content_type)
    return r.status, list(r.headers.items()), r.get_data()


def both(app, plain, path, **kw):
    """The answer with the lane, then the twin's; equal, or the test fails."""
    mine = answer(app.test_client(), path, **kw)
    theirs = answer(plain.test_client(), path, **kw)
    assert mine == theirs
    return mine


def evalshas(app) -> int:
    info = Redis.from_url(app.extensions["linli.settings"].redis_url).info("commandstats")
    return info.get("cmdstat_evalsha", {}).get("calls", 0)


def reset_stats(app):
    Redis.from_url(app.extensions["linli.settings"].redis_url).config_resetstat()


def test_an_ordinary_purchase_is_answered_by_the_lane_exactly_as_flask_answers_it(app, plain, handed, admin, product,
                                                                                   client, leader):
    sale = make_sale(admin, product["skus"][0]["id"], stock=10, limit=10)
    buyer = bound_buyer(client, "lane-1", leader[1]["pickup_point_id"])
    path = f"/api/v1/flash-sales/{sale['id']}/purchase"
    auth = {"Authorization": f"Bearer {buyer.token}"}
    for a in (app, plain):  # the sale's state built, each app's scripts loaded: what is counted is the calls
        assert a.test_client().post(path, json={"qty": 1, "pickup_point_id": 1}, headers=auth).status_code == 202
    handed.clear()
    # The same Idempotency-Key: the twin's call replays the lane's reservation, so the two
    # answers can be equal to the byte.
    for n, body in enumerate(({"qty": 1}, {"qty": 2, "pickup_point_id": None}, {"qty": 1.0})):
        reset_stats(app)
        status, headers, data = both(app, plain, path, body=body, headers={**auth, "Idempotency-Key": f"k{n}"})
        assert status == "202 ACCEPTED" and json.loads(data)["status"] == "pending", data
        assert [k for k, _ in headers] == ["Content-Type", "Content-Length", "X-Request-ID"]
        assert evalshas(app) == 2  # once each side: the lane's purchase, the twin's replay
    assert handed == []
    # Without X-Request-ID, the lane makes one up as Flask does.
    r = client.post(path, json={"qty": 1, "pickup_point_id": 1}, headers=auth)
    assert r.status_code == 202 and len(r.headers["X-Request-ID"]) == 32 and handed == []
    assert client.get("/api/v1/flash-sales").get_json()["items"][0]["stock_left"] == 10 - 2 - 4 - 1


def _deep(n):
    v = 1
    for _ in range(n):
        v = [v]
    return v


def _token(app, **kw):
    with app.app_context():
        return create_access_token(**kw)


# (what is different, how the request differs): Flask answers each, whether it accepts or refuses.
ODD = {
    "no token": dict(headers={"Authorization": ""}),
    "a malformed token": dict(headers={"Authorization": "Bearer nonsense"}),
    "an expired token": dict(headers={"Authorization": "expired"}),
    "a subject that is no user id": dict(headers={"Authorization": "sub-x"}),
    "text/plain": dict(content_type="text/plain"),
    "a charset parameter": dict(content_type="application/json; charset=utf-8"),
    "not JSON": dict(data=b'{"qty": '),
    "not an object": dict(body=[1]),
    "nested past the depth limit": dict(body={"qty": 1, "x": _deep(40)}),
    "a string for an integer": dict(body={"qty": "1"}),
    "a boolean for an integer": dict(body={"qty": True}),
    "qty 0": dict(body={"qty": 0, "pickup_point_id": 1}),
    "a lone surrogate": dict(data=b'{"qty": 1, "pickup_point_id": "\\ud800"}'),
    "an empty body": dict(data=b""),
    "a long body": dict(data=b'{"qty": 1}' + b" " * 5000),
    "a query string": dict(query="x=1"),
    "a malformed Idempotency-Key": dict(headers={"Idempotency-Key": "k" * 256}),
    "forwarded by a proxy (default key)": dict(headers={"X-Forwarded-For": "203.0.113.9"}),
}


@pytest.mark.parametrize("case", ODD)
def test_anything_out_of_the_ordinary_is_handed_to_flask_which_answers_as_always(case, app, plain, handed, admin,
                                                                                   product, client):
    sale = make_sale(admin, product["skus"][0]["id"], stock=10, limit=5)
    buyer = login(client, "lane-odd")
    kw = dict(ODD[case])
    headers = {"Authorization": f"Bearer {buyer.token}", "Idempotency-Key": f"odd-{case}"}
    headers.update(kw.pop("headers", {}))
    if headers["Authorization"] == "expired":
        headers["Authorization"] = "Bearer " + _token(app, identity=str(buyer.user["id"]),
                                                      expires_delta=timedelta(seconds=-30))
    elif headers["Authorization"] == "sub-x":
        headers["Authorization"] = "Bearer " + _token(app, identity="x")
    elif not headers["Authorization"]:
        del headers["Authorization"]
    kw.setdefault("body", {"qty": 1})
    status, _, data = both(app, plain, f"/api/v1/flash-sales/{sale['id']}/purchase", headers=headers, **kw)
    assert len(handed) == 1, (case, status, data)
    if case == "forwarded by a proxy (default key)":
        assert status.startswith("403")  # the lane keeps the default key's this-machine-only rule


@pytest.mark.parametrize("sale_part", ["0", "01", "2147483648", "99999999999", "x1"])
def test_a_sale_id_flask_refuses_is_refused_by_flask(sale_part, app, plain, handed, client):
    buyer = login(client, "lane-path")
    status, _, _ = both(app, plain, f"/api/v1/flash-sales/{sale_part}/purchase", body={"qty": 1, "pickup_point_id": 1},
                        headers={"Authorization": f"Bearer {buyer.token}"})
    assert status.startswith(("404", "422")) and len(handed) == 1


def test_refusals_are_rendered_by_flasks_handlers_and_the_script_runs_once_for_each(app, plain, handed, admin,
                                                                                      product, client):
    """A refusal the lane's call raised is answered by Flask's error handler and after-request
    hooks, as Flask's own dispatch would (compared byte for byte), and the script is not run a
    second time (which would take or count twice)."""
    sku = product["skus"][0]["id"]
    sale = make_sale(admin, sku, stock=2, limit=2)
    later = make_sale(admin, sku, starts=600)
    a, b, c = login(client, "lane-a"), login(client, "lane-b"), login(client, "lane-c")
    with app.app_context():
        flash.block_user(c.user["id"])
    assert a.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 2, "pickup_point_id": 1}).status_code == 202
    cases = [(a, sale, "limit_exceeded"), (b, sale, "sold_out"), (b, later, "not_started"),
             (c, sale, "user_blocked"), (b, {"id": 999999}, "flash_sale_not_found")]
    for user, s, code in cases:
        handed.clear()
        reset_stats(app)
        status, headers, data = answer(client, f"/api/v1/flash-sales/{s['id']}/purchase", body={"qty": 1, "pickup_point_id": 1},
                                       headers={"Authorization": f"Bearer {user.token}"})
        assert json.loads(data)["code"] == code and evalshas(app) == 1 and handed == [], (code, status, data)
        assert dict(headers)["Content-Type"] == "application/problem+json"
        theirs = answer(plain.test_client(), f"/api/v1/flash-sales/{s['id']}/purchase", body={"qty": 1, "pickup_point_id": 1},
                        headers={"Authorization": f"Bearer {user.token}"})
        assert (status, headers, data) == theirs
    assert client.get("/api/v1/flash-sales").get_json()["items"][0]["stock_left"] == 0


def test_an_unreachable_sale_redis_is_a_503_with_retry_after_not_a_500(app, client, caplog):
    buyer = login(client, "lane-down")
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    apps = [create_app(app.extensions["linli.settings"].model_copy(update={"flash_redis_url": dead, "flash_lane": on}))
            for on in (True, False)]
    path, auth = "/api/v1/flash-sales/1/purchase", {"Authorization": f"Bearer {buyer.token}"}
    try:
        mine, theirs = (answer(a.test_client(), path, body={"qty": 1, "pickup_point_id": 1}, headers=auth) for a in apps)
        assert mine == theirs
        status, headers, data = mine
        assert status == "503 SERVICE UNAVAILABLE" and json.loads(data)["code"] == "service_unavailable", data
        assert dict(headers)["Retry-After"] == "1"
        assert "unhandled error" not in caplog.text
        # Logged once a request, with the request's id, whichever side answered...
        logged = [r.request_id for r in caplog.records if "purchase not taken" in r.getMessage()]
        assert logged == [RID, RID]
        # ... and the one the lane logged is the one Flask answers with, when it makes one up.
        caplog.clear()
        r = apps[0].test_client().post(path, json={"qty": 1, "pickup_point_id": 1}, headers=auth)
        logged = [x.request_id for x in caplog.records if "purchase not taken" in x.getMessage()]
        assert r.status_code == 503 and logged == [r.headers["X-Request-ID"]]
    finally:
        for a in apps:
            a.extensions["linli.engine"].dispose()


def test_an_unexpected_error_is_raised_again_by_the_route_and_runs_nothing_twice(app, plain, handed, admin, product,
                                                                                  client, monkeypatch, caplog):
    """Anything but a refusal goes to Flask with what was raised: its handler logs it and answers
    500 as for any route, and the purchase is not attempted again."""
    sale = make_sale(admin, product["skus"][0]["id"], stock=10, limit=5)
    buyer = login(client, "lane-boom")
    calls = []

    def boom(**kw):
        calls.append(kw["user_id"])
        raise RuntimeError("boom")

    monkeypatch.setattr(flash, "purchase", boom)
    status, _, data = both(app, plain, f"/api/v1/flash-sales/{sale['id']}/purchase", body={"qty": 1, "pickup_point_id": 1},
                           headers={"Authorization": f"Bearer {buyer.token}"})
    assert status.startswith("500") and json.loads(data)["code"] == "internal_error"
    assert len(calls) == 2 and len(handed) == 1  # once with the lane, once in the twin
    assert caplog.text.count("unhandled error on POST") == 2

