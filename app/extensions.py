"""Extension objects created once and bound to an app in create_app."""
from __future__ import annotations

from flask import request
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter


def _rate_key() -> str:
    # Per user where a token is presented (mini-program users share carrier NAT addresses),
    # per address otherwise. The token is not verified here: a forged one only buckets itself.
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer ") and len(auth) > 20:
        return "t:" + auth[-32:]
    return "ip:" + (request.remote_addr or "?")


jwt = JWTManager()
limiter = Limiter(key_func=_rate_key)
