"""Issue 18's minor points, each with the request that failed."""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import DEFAULT_SECRET, Settings
from app.request_context import environ_is_local
from tests.conftest import make_leader


def test_nearby_with_a_vanishing_latitude_next_to_a_point_at_zero_is_not_a_500(client, admin):
    _, at_zero = make_leader(client, admin, lat=0.0, lng=0.0)
    _, tiny = make_leader(client, admin, lat=1e-200, lng=-1e-200)  # stored as 0 (1e-7 degree)
    for query in ("lat=1e-200&lng=0", "lat=0&lng=1e-200", "lat=-1e-300&lng=-1e-300", "lat=0&lng=0",
                  "lat=1e-200&lng=0&coord_type=wgs84"):
        r = client.get(f"/api/v1/pickup-points/nearby?{query}")
        assert r.status_code == 200, (query, r.get_json())
        ids = {p["id"] for p in r.get_json()["items"]}
        assert {at_zero["pickup_point_id"], tiny["pickup_point_id"]} <= ids, query


# ---- placeholder secrets in prod ------------------------------------------------------------------

PROD = dict(env="prod", payment_provider="wechatpay", dev_login=False)


@pytest.mark.parametrize("secret", [
    "changeme-changeme-changeme-changeme",
    "abcdefghabcdefghabcdefghabcdefgh",
    DEFAULT_SECRET + "x",
    "X" + DEFAULT_SECRET.upper(),
    "your-secret-key-here-change-me-please",
    "k9Qz-DEFAULT-7h2Lw0pXv3Rt8nB5mYc1",
    "q8Wv3Lp0Zr7Tn2Xk-Q8Wv3Lp0Zr7Tn2Xk-9",  # one phrase twice
    "0123456789abcdef0123456789abcdef",
])
def test_prod_refuses_placeholder_secrets(secret):
    with pytest.raises(ValidationError, match="LINLI_SECRET_KEY"):
        Settings(secret_key=secret, **PROD)


def test_prod_accepts_random_secrets():
    for secret in [secrets.token_hex(32) for _ in range(50)] + [secrets.token_hex(16) for _ in range(50)] + [
            "f3a9c1e07b5d42e8a6c09d1f7e2b4a35"]:
        assert Settings(secret_key=secret, **PROD).secret_key == secret


def test_the_readme_states_the_secret_rule():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "no 8 characters repeated" in readme and "placeholder word" in readme


# ---- dev login: one rule for every forwarding header ------------------------------------------------

@pytest.fixture
def settings_overrides():
    # A secret of its own: the public default would answer a forwarded caller 403 before dev login.
    return {"secret_key": "5d0f6b2a9e8c4713b2a6f1e0c9d8b7a6"}


FORWARDING = ["CF-Connecting-IP", "True-Client-IP", "X-Client-IP", "X-Original-Forwarded-For", "X-Cluster-Client-IP",
              "x-forwarded-host", "X-Real-IP", "Forwarded", "X-Forwarded-For"]


@pytest.mark.parametrize("header", FORWARDING)
def test_dev_login_refuses_any_forwarding_header(client, header):
    r = client.post("/api/v1/auth/dev-login", json={"openid": "fwd"}, headers={header: "203.0.113.9"})
    assert r.status_code == 404, header


def test_dev_login_answers_this_machine_with_ordinary_headers(client):
    r = client.post("/api/v1/auth/dev-login", json={"openid": "plain"},
                    headers={"X-Request-ID": "abc", "Accept": "application/json", "User-Agent": "ip-client"})
    assert r.status_code == 200


@pytest.mark.parametrize("header", FORWARDING)
def test_environ_with_a_forwarding_header_is_not_local(header):
    key = "HTTP_" + header.upper().replace("-", "_")
    assert not environ_is_local({"REMOTE_ADDR": "127.0.0.1", key: "203.0.113.9"})
    assert environ_is_local({"REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "x", "HTTP_USER_AGENT": "forwarded-ish"})
