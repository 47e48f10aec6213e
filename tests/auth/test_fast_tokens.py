"""The request path verifies our own access tokens with one HMAC (app.auth.security._FastTokens)
instead of flask-jwt-extended + PyJWT (~0.2 ms a request). It must never accept a token the library
refuses, nor read another subject from it: every token below goes through both."""
from __future__ import annotations

import time
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token

from app.auth.security import _FastTokens, fast_token_sub


def _library_sub(token: str) -> str | None:
    try:
        claims = decode_token(token)
    except Exception:  # noqa: BLE001 - any refusal
        return None
    return claims["sub"] if claims.get("type") == "access" else None


def _tokens(app, sub: str = "7") -> dict[str, str]:
    key = app.config["JWT_SECRET_KEY"]
    now = int(time.time())
    good = create_access_token(identity=sub)
    head, payload, sig = good.split(".")

    def signed(claims: dict, headers: dict | None = None, k: str = key) -> str:
        return pyjwt.encode(claims, k, algorithm="HS256", headers=headers)

    base = {"sub": sub, "iat": now, "nbf": now, "exp": now + 600, "type": "access", "jti": "j", "fresh": False}
    return {
        "good": good,
        "refresh": create_refresh_token(identity=sub),
        "expired": create_access_token(identity=sub, expires_delta=timedelta(seconds=-5)),
        "other key": signed(base, k=key + "x"),
        "tampered payload": f"{head}.{signed(dict(base, sub=sub + '0')).split('.')[1]}.{sig}",
        "signature cut": good[:-2],
        "not yet valid": signed(dict(base, nbf=now + 600)),
        "issued in the future": signed(dict(base, iat=now + 600)),
        "float exp": signed(dict(base, exp=now + 600.5)),
        "no type": signed({k: v for k, v in base.items() if k != "type"}),
        "int sub": signed(dict(base, sub=7)),
        "with aud": signed(dict(base, aud="someone")),
        "other header": signed(base, headers={"kid": "k1"}),
        "alg none": pyjwt.encode(base, None, algorithm="none"),
        "garbage": "a.b.c",
        "non-ascii": good[:-1] + "é",
    }


def test_the_fast_check_accepts_only_what_flask_jwt_extended_accepts(app):
    with app.test_request_context():
        fast = _FastTokens.for_app(app)
        assert fast is not None  # this app's configuration is the plain one
        for name, token in _tokens(app).items():
            sub = fast.user_sub(f"Bearer {token}")
            if sub is not None:
                assert _library_sub(token) == sub, name
        assert fast.user_sub(f"Bearer {create_access_token(identity='7')}") == "7"
        for value in ("", "Bearer", "Basic abc", f"bearer {create_access_token(identity='7')}",
                      f"Bearer {create_access_token(identity='7')} "):
            assert fast.user_sub(value) is None, value


@pytest.mark.parametrize("name", ["refresh", "expired", "other key", "tampered payload", "not yet valid",
                                  "alg none", "garbage", "signature cut"])
def test_a_token_either_check_refuses_is_a_401(client, app, name, buyer):
    with app.test_request_context():
        token = _tokens(app, str(buyer.user["id"]))[name]
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.get_json()["code"] == "unauthorized"


def test_a_valid_token_the_fast_check_leaves_to_the_library_still_works(client, app, buyer):
    with app.test_request_context():
        token = pyjwt.encode(decode_token(buyer.token), app.config["JWT_SECRET_KEY"], algorithm="HS256",
                             headers={"kid": "k1"})
    with app.test_request_context(headers={"Authorization": f"Bearer {token}"}):
        assert fast_token_sub() is None
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_another_configuration_turns_the_fast_check_off(app):
    app.config["JWT_DECODE_LEEWAY"] = 10
    with app.test_request_context():
        assert _FastTokens.for_app(app) is None
