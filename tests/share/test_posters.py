"""Posters: a PNG holding the fake WeChat's code for the share's token, drawn once (concurrent
first requests cost one WeChat call), served with an ETag; a WeChat failure is a 503 problem."""
from __future__ import annotations

import io

import pytest
import requests
from PIL import Image
from pydantic import ValidationError
from sqlmodel import select

from app.config import Settings
from app.db import reading
from app.factory import create_app
from app.share.models import Share, SharePoster
from tests.concurrency import run_together
from tests.fakes.wechat_api import WXACODE, image_has_code, wechat_api  # noqa: F401 - the fixture
from tests.http_server import serving
from tests.share.helpers import bound, share


@pytest.fixture
def settings_overrides(wechat_api):  # noqa: F811
    return wechat_api.settings()


def test_a_poster_holds_the_code_for_its_token_and_is_drawn_once(client, leader, product, wechat_api):  # noqa: F811
    _, point = leader
    s = share(bound(client, "sharer", point["pickup_point_id"]), "product", product["id"])
    viewer = bound(client, "viewer", point["pickup_point_id"])
    r = viewer.get(f"/shares/{s['token']}/poster")
    assert r.status_code == 200, r.get_json()
    assert r.mimetype == "image/png" and r.headers["ETag"] and "max-age" in r.headers["Cache-Control"]
    assert Image.open(io.BytesIO(r.data)).format == "PNG"
    assert image_has_code(r.data, s["token"])
    assert not image_has_code(r.data, s["token"][:-1] + ("A" if s["token"][-1] != "A" else "B"))
    (code,) = wechat_api.codes
    assert (code.scene, code.page) == (s["token"], "pages/product/detail")
    again = viewer.get(f"/shares/{s['token']}/poster")
    assert again.status_code == 200 and again.data == r.data
    assert len(wechat_api.codes) == 1  # the second request made no WeChat call
    cached = viewer.get(f"/shares/{s['token']}/poster", headers={"If-None-Match": r.headers["ETag"]})
    assert cached.status_code == 304 and not cached.data
    assert viewer.get("/shares/nosuchtoken/poster").get_json()["code"] == "share_not_found"


def test_concurrent_first_requests_cost_one_wechat_call(app, client, leader, product, wechat_api):  # noqa: F811
    _, point = leader
    sharer = bound(client, "sharer", point["pickup_point_id"])
    token = share(sharer, "product", product["id"])["token"]
    wechat_api.delay_next(WXACODE, 0.5)  # the first caller holds the lock a while
    with serving(app) as base:
        results = run_together(10, lambda i: requests.get(f"{base}/api/v1/shares/{token}/poster",
                                                          headers=sharer.headers, timeout=60))
    assert [r.status_code for r in results] == [200] * 10, [r.text[:200] for r in results]
    assert len({r.content for r in results}) == 1
    assert len(wechat_api.codes) == 1


def test_a_wechat_failure_is_a_503_problem_and_the_next_request_draws_it(client, leader, product,
                                                                         wechat_api):  # noqa: F811
    _, point = leader
    sharer = bound(client, "sharer", point["pickup_point_id"])
    token = share(sharer, "product", product["id"])["token"]
    wechat_api.fail_next(WXACODE, 40169, times=1)
    r = sharer.get(f"/shares/{token}/poster")
    assert r.status_code == 503 and r.mimetype == "application/problem+json"
    assert r.get_json()["code"] == "poster_unavailable"
    r = sharer.get(f"/shares/{token}/poster")
    assert r.status_code == 200 and image_has_code(r.data, token)



def _kept(app, token) -> bool:
    with app.app_context(), reading() as s:
        share_id = s.exec(select(Share.id).where(Share.token == token)).one()
        return s.get(SharePoster, share_id) is not None


def test_with_the_placeholder_on_a_poster_is_drawn_without_wechat_and_not_kept(app, client, leader, product,
                                                                                make_settings,
                                                                                wechat_api):  # noqa: F811
    _, point = leader
    sharer = bound(client, "sharer", point["pickup_point_id"])
    token = share(sharer, "product", product["id"])["token"]
    # The same database and Redis, WeChat out of reach (as in development), the setting on.
    dev = create_app(make_settings(database_url=app.extensions["linli.settings"].database_url,
                                   wechat_api_base="http://127.0.0.1:9", poster_placeholder=True))
    try:
        r = dev.test_client().get(f"/api/v1/shares/{token}/poster", headers=sharer.headers)
        assert r.status_code == 200, r.get_json()
        assert Image.open(io.BytesIO(r.data)).format == "PNG" and r.headers["Cache-Control"] == "no-cache"
        assert not image_has_code(r.data, token) and wechat_api.codes == []
        again = dev.test_client().get(f"/api/v1/shares/{token}/poster", headers={
            **sharer.headers, "If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304
        assert not _kept(app, token)
    finally:
        dev.extensions["linli.engine"].dispose()
    # With the setting off (this module's app, pointed at the fake WeChat) the real code is drawn and kept.
    r = sharer.get(f"/shares/{token}/poster")
    assert r.status_code == 200 and image_has_code(r.data, token) and "max-age" in r.headers["Cache-Control"]
    assert len(wechat_api.codes) == 1 and _kept(app, token)


def test_the_placeholder_is_on_outside_prod_and_refused_in_prod():
    assert Settings(env="dev").poster_placeholder and Settings(env="test").poster_placeholder
    assert not Settings(env="test", poster_placeholder=False).poster_placeholder
    prod = dict(env="prod", secret_key="a9F3kQ7zX2mB8vN4cR6tY1wE5uI0oP3s", payment_provider="wechatpay")
    assert Settings(**prod).poster_placeholder is False
    with pytest.raises(ValidationError, match="LINLI_POSTER_PLACEHOLDER"):
        Settings(**prod, poster_placeholder=True)
