"""Who is calling: JWT verification, the per-request principal, and role checks."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, request
from flask_jwt_extended import create_access_token
from flask_jwt_extended import default_callbacks as d
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_jwt_extended.config import config
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError

from app.auth.models import User
from app.db import get_or_raise, reading
from app.errors import Forbidden, Unauthorized
from app.http import MAX_ID
from app.leader import service as leader_service

BEARER = [{"jwt": []}]  # OpenAPI security requirement for protected operations


@dataclass(frozen=True)
class Principal:
    user_id: int
    roles: frozenset[str]
    leader_id: int | None = None
    leader_point_id: int | None = None

    def has(self, role: str) -> bool:
        return role in self.roles


def roles_of(user, leader) -> list[str]:
    roles = ["buyer"]
    if leader is not None and leader.active:
        roles.append("leader")
    if user.is_admin:
        roles.append("admin")
    return roles


def issue_token(user, leader=None) -> str:
    # Roles in the token are informational; every request re-reads them from the database so
    # that an approval or a revocation takes effect at once.
    return create_access_token(identity=str(user.id), additional_claims={"roles": roles_of(user, leader)})


def user_id_from_sub(sub) -> int:
    """The token's subject as a row id. Only what issue_token writes (a decimal id within the
    column's range) is one: a huge number would overflow the database driver (a 500), and
    int() would also take " 7", "+7", "1_0" or non-ASCII digits."""
    if not isinstance(sub, str) or not re.fullmatch(r"[1-9][0-9]{0,9}", sub) or int(sub) > MAX_ID:
        raise ValueError("the token's subject is not a user id")
    return int(sub)


class _FastTokens:
    """Verifies the access tokens issue_token writes (HS256, this app's key) with one HMAC, a
    base64 decode and a json.loads: ~15 µs, where flask-jwt-extended parses the token four times
    through PyJWT, whose base64 check walks every character in Python (~0.2 ms a request).

    It only ever accepts a subset of what flask-jwt-extended accepts: the exact header issue_token
    writes, a valid signature, `type` access, int exp/nbf/iat that flask-jwt-extended would accept
    now, a string sub. Anything else (no token, another form, expired, refresh, a bad signature)
    answers None and the caller takes flask-jwt-extended's way, which refuses with its own error
    (or accepts an unusual but valid token). Used only while the JWT configuration is the one this
    app sets (HS256, no audience, issuer, leeway or blocklist): otherwise `for_app` gives None."""

    def __init__(self, key: bytes, header_segment: str):
        self.key = key
        self.prefix = "Bearer " + header_segment + "."

    @classmethod
    def for_app(cls, app) -> _FastTokens | None:

        mgr = app.extensions["flask-jwt-extended"]
        key = app.config.get("JWT_SECRET_KEY")
        plain = (isinstance(key, str) and key and config.algorithm == "HS256" and config.decode_algorithms == ["HS256"]
                 and config.decode_audience is None and config.decode_issuer is None and not config.leeway
                 and config.identity_claim_key == "sub" and config.header_name == "Authorization"
                 and config.header_type == "Bearer" and "headers" in config.token_location
                 and mgr._decode_key_callback is d.default_decode_key_callback
                 and mgr._token_in_blocklist_callback is d.default_blocklist_callback
                 and mgr._token_verification_callback is d.default_token_verification_callback
                 and mgr._user_lookup_callback is None)
        if not plain:
            return None
        header_segment = create_access_token(identity="0").split(".", 1)[0]  # exactly what we issue
        return cls(key.encode(), header_segment)

    def user_sub(self, authorization: str) -> str | None:
        """The `sub` of a valid access token in an `Authorization: Bearer` value, or None."""
        if not authorization.startswith(self.prefix):
            return None
        signing_input, _, signature = authorization[7:].rpartition(".")
        payload = signing_input[len(self.prefix) - 7:]
        try:
            mac = hmac.new(self.key, signing_input.encode("ascii"), hashlib.sha256).digest()
            if not hmac.compare_digest(base64.urlsafe_b64encode(mac).rstrip(b"="), signature.encode("ascii")):
                return None
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:  # non-ASCII, bad base64 or JSON (UnicodeError and binascii.Error are ValueErrors)
            return None
        if type(claims) is not dict or claims.get("type") != "access" or "aud" in claims or "iss" in claims:
            return None
        now = time.time()
        exp, nbf, iat, sub = claims.get("exp"), claims.get("nbf", 0), claims.get("iat", 0), claims.get("sub")
        if not (type(exp) is int and type(nbf) is int and type(iat) is int and exp > now and nbf <= now
                and iat <= now and type(sub) is str and type(claims.get("jti", "")) is str):
            return None
        return sub


def fast_tokens(app) -> _FastTokens | None:
    """The app's _FastTokens (None while its JWT configuration is not the plain one), worked out
    once. In an app context."""
    ext = app.extensions
    fast = ext.get("linli.fast_tokens", False)
    if fast is False:
        fast = ext["linli.fast_tokens"] = _FastTokens.for_app(app)
    return fast


def fast_token_sub() -> str | None:
    """This request's token subject by _FastTokens, or None (then ask flask-jwt-extended)."""
    fast = fast_tokens(current_app._get_current_object())
    if fast is None:
        return None
    return fast.user_sub(request.headers.get("Authorization", ""))


def _verified_user_id(locations: list[str] | None = None) -> int:
    """The user id of this request's valid access token; Unauthorized otherwise."""
    sub = fast_token_sub() if locations is None else None
    try:
        if sub is None:
            verify_jwt_in_request(locations=locations)
            sub = get_jwt_identity()
        return user_id_from_sub(sub)
    except (JWTExtendedException, PyJWTError, ValueError, TypeError) as e:
        raise Unauthorized("A valid bearer token is required.") from e


def load_principal(*, locations: list[str] | None = None) -> Principal:
    if "principal" in g:
        return g.principal
    user_id = _verified_user_id(locations)

    with reading() as s:
        user = get_or_raise(s, User, user_id, Unauthorized("The token's user no longer exists."))
        leader, point_id = leader_service.leader_and_point(s, user_id=user_id)
    g.principal = Principal(user_id=user.id, roles=frozenset(roles_of(user, leader)),
                            leader_id=leader.id if leader and leader.active else None,
                            leader_point_id=point_id if leader and leader.active else None)
    return g.principal


def token_user_id() -> int:
    """The caller's user id from the verified token alone: no database read (a flash sale's hot
    path, where the user and leader reads would cost more than the purchase itself). Only for
    operations every user may call (the buyer role is everyone's and a suspended leader is still
    a buyer); a user kept out of flash sales is refused inside the sale's own Redis script."""
    ctx_g = g._get_current_object()  # one proxy lookup, not four (called 3-4 times a purchase)
    user_id = getattr(ctx_g, "token_user_id", None)
    if user_id is None:
        user_id = ctx_g.token_user_id = _verified_user_id()
    return user_id


def token_authenticated(fn):
    """Like @authenticated() (any valid token, 401 otherwise, checked before validation), with
    the token alone: see token_user_id."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        token_user_id()
        return fn(*args, **kwargs)

    wrapper.linli_token_only = True
    return wrapper


def require(roles: tuple[str, ...]) -> Principal:
    """A valid token (401 otherwise) and, if roles are given, one of them (403 otherwise)."""
    p = load_principal()
    if roles and not p.roles.intersection(roles):
        raise Forbidden(f"This needs the role {' or '.join(roles)}.")
    return p


def authenticated(*roles: str):
    """Require a valid token, and if roles are given, at least one of them.

    The roles are also recorded on the view (`linli_roles`), so that `check_access_first` can
    refuse a caller before flask-openapi3 validates the request: without a token the answer is
    401 whatever the body, never a 422 that describes the input to an anonymous caller.
    """

    def deco(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            require(roles)
            return fn(*args, **kwargs)

        wrapper.linli_roles = roles  # copied outward by functools.wraps in flask-openapi3's view
        return wrapper

    return deco


def check_access_first() -> None:
    """before_request: apply the endpoint's @authenticated rule ahead of request validation."""

    if request.method == "OPTIONS" or not request.endpoint:  # Flask answers OPTIONS itself
        return
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "linli_token_only", False):
        token_user_id()
        return
    roles = getattr(view, "linli_roles", None)
    if roles is not None:
        require(roles)


def current() -> Principal:
    return load_principal()


def websocket_principal() -> Principal:
    """Who opened the WebSocket (`/api/v1/ws`): the token from `?token=`, since a browser's
    WebSocket cannot send an Authorization header; the header is honoured too. Only the WebSocket
    route calls this: HTTP endpoints read the header alone (JWT_TOKEN_LOCATION). 401 otherwise."""
    return load_principal(locations=["query_string", "headers"])
