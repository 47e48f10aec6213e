"""Extension objects created once and bound to an app in create_app."""
from __future__ import annotations

from flask import request
from flask_jwt_extended import JWTManager, decode_token
from flask_limiter import Limiter

from app.auth.security import fast_token_sub


def _rate_key() -> str:
    # Per user where a valid token is presented (mini-program users share carrier NAT addresses),
    # per address otherwise. The token is verified (an HMAC, microseconds) so that random forged
    # tokens cannot each buy a fresh bucket.

    sub = fast_token_sub()  # the same check, without PyJWT's cost (None: not sure, ask it)
    if sub is not None:
        return "u:" + sub
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        try:
            return "u:" + str(decode_token(auth[7:])["sub"])
        except Exception:  # noqa: BLE001 - any bad token is simply not a user
            pass
    return "ip:" + (request.remote_addr or "?")


jwt = JWTManager()
limiter = Limiter(key_func=_rate_key)
