"""Issue 18's minor points, each with the request that failed."""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import DEFAULT_SECRET, Settings
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


@pytest.mark.parametrize("secret", [secrets.token_hex(32), secrets.token_hex(16), secrets.token_urlsafe(32),
                                    "f3a9c1e07b5d42e8a6c09d1f7e2b4a35"])
def test_prod_accepts_random_secrets(secret):
    assert Settings(secret_key=secret, **PROD).secret_key == secret


def test_the_readme_states_the_secret_rule():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "no 8 characters repeated" in readme and "placeholder word" in readme
