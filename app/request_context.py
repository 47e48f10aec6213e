"""Per-request rules of the transport: request ids, and who counts as "this machine" for the
loopback-only rules of non-production servers."""
from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from flask import Flask, g, request
from flask.sessions import SessionInterface
from werkzeug.exceptions import RequestEntityTooLarge

from app.config import DEFAULT_SECRET, Settings, is_loopback_host
from app.errors import BadRequest, Forbidden

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# A proxy on this machine makes every caller look local; a header that says it forwards someone
# makes the caller remote. One rule for every such header, whatever the proxy or CDN names it: a
# name containing "forwarded" (Forwarded, X-Forwarded-For, X-Original-Forwarded-For, ...),
# "client-ip" (X-Client-IP, True-Client-IP, X-Cluster-Client-IP), "real-ip" (X-Real-IP) or
# "connecting-ip" (CF-Connecting-IP), in any case, with - or _ (a WSGI environ has HTTP_X_REAL_IP).
_FORWARDING_KEY = re.compile(r"(?:^|\s)HTTP_[A-Z0-9_]*(?:FORWARDED|CLIENT_IP|REAL_IP|CONNECTING_IP)")


def request_id_from(value: str | None) -> str:
    """The caller's request id if it is sane (<= 128 of [A-Za-z0-9._-]), else a fresh one: ids are
    echoed into headers and logs, so nothing else gets through."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


# A layer ahead of Flask (the purchase lane) that took a request's id: in the environ, should it
# hand the request to Flask after all, and in this context var while it logs outside Flask's.
REQUEST_ID_ENVIRON = "linli.request_id"
outside_flask_request_id: ContextVar[str | None] = ContextVar("linli_outside_flask_request_id", default=None)


def current_request_id() -> str:
    """This request's id, taken on first use (a hook that runs before ours may log)."""
    ctx_g = g._get_current_object()
    rid = getattr(ctx_g, "request_id", None)
    if rid is None:
        rid = request.environ.get(REQUEST_ID_ENVIRON) or request_id_from(request.headers.get(REQUEST_ID_HEADER))
        ctx_g.request_id = rid
    return rid


def request_is_local() -> bool:
    """The caller is on this machine: a loopback peer that no proxy header says is forwarding."""
    return environ_is_local(request.environ)


def environ_is_local(environ: dict) -> bool:
    """request_is_local for a WSGI environ (headers arrive as HTTP_X_FORWARDED_FOR and so on)."""
    if _FORWARDING_KEY.search(" ".join(environ)):  # one search over every key: the lane's hot path
        return False
    addr = environ.get("REMOTE_ADDR")
    if addr is None:
        # No peer at all: called in-process (a WSGI test client, a script). Every server sets
        # REMOTE_ADDR, gunicorn on a Unix socket to "", which counts as remote (a proxy's).
        return True
    return is_loopback_host(addr)


def _server_body_errors() -> tuple[type[BaseException], ...]:
    try:
        from gunicorn.http.errors import NoMoreData, ParseException  # optional: only under gunicorn
    except ImportError:  # another WSGI server
        return ()
    return ParseException, NoMoreData


_BODY_ERRORS = _server_body_errors()


def read_body(limit: int) -> bytes:
    """The request body, read once and cached for whoever parses it next.

    A chunked body (no Content-Length) is cut at `limit` without a word from Werkzeug: one more
    byte means it was longer, a 413 rather than "not valid JSON". A body the server cannot
    decode (a malformed chunk) is the client's fault: a 400, not an error escaping the view.
    """
    try:
        raw = request.get_data(cache=True)
        if request.content_length is None and len(raw) >= limit and request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    except _BODY_ERRORS:

        raise BadRequest("The request body could not be read (malformed chunked encoding).") from None
    return raw


class NoSessions(SessionInterface):
    """This API keeps no cookie session (tokens travel in the Authorization header): Flask's
    default would parse cookies and build a signing serializer on every request for nothing.
    `session` is Flask's NullSession: reading it finds nothing, writing to it raises."""

    def open_session(self, app, request):
        return self.make_null_session(app)

    def save_session(self, app, session, response):
        return None


def install_request_handling(app: Flask, settings: Settings) -> None:
    """Request ids on every response, no cookie sessions, and the public default secret for
    this machine only."""
    app.session_interface = NoSessions()

    @app.before_request
    def _take_request_id():
        current_request_id()  # (a before_request hook that returned it would answer with it)

    @app.after_request
    def _echo_request_id(response):
        response.headers[REQUEST_ID_HEADER] = current_request_id()
        return response

    if settings.secret_key == DEFAULT_SECRET:

        @app.before_request
        def _default_secret_answers_this_machine_only():
            # Anyone can sign tokens with the published default key: however this app is hosted
            # (linli serve refuses such a bind, but gunicorn can be started by hand), nobody
            # off this machine gets an answer from it.
            if not request_is_local():
                raise Forbidden("This server uses the public default LINLI_SECRET_KEY and answers "
                                "this machine only; set LINLI_SECRET_KEY.")
