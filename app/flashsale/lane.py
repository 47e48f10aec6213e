"""The purchase's own lane: `POST /api/v1/flash-sales/{id}/purchase` answered in front of Flask.

Large flash-sale systems answer the purchase in a thin layer ahead of the application (an
OpenResty script next to Redis, say), because a flash sale is thousands of the same small request
a second. Here that layer is a WSGI wrapper around Flask's own: it recognises an ORDINARY purchase
and answers it with the route's own code (app.flashsale.purchase.take: the rate limits and the
sale's script), without Flask's request context, URL map, hooks, request parsing and response
object. Measured in-process, those cost a purchase 0.25-0.35 ms of CPU beside the 0.1 ms its
Redis round trip does: the purchase then ran at 0.45-0.5x /healthz under wrk.

Ordinary is everything the route would accept, checked the way its hooks and models check it:
the default secret's this-machine-only rule, an access token _FastTokens verifies (and whose
subject is a user id), no query string, a JSON body of a known length that parses to an object
within the depth limit and validates as PurchaseBody, a well-formed Idempotency-Key if any. Any
other request is handed to Flask untouched (its body put back), which answers as it always has.

What the lane answers itself is the 202, with the headers Flask's would have (Content-Type,
Content-Length, X-Request-ID). A refusal take() raises (sold out, over a limit, rate limited,
blocked, no such sale, Redis unreachable: most answers of a sale once it sells out) is rendered by
Flask's own error handler and after-request hooks in a request context of its own, skipping only
the before-request hooks, validation and view the lane already did. Anything else it raises is
handed to Flask with the request, and the route raises it again there (Flask logs it and answers
500). Nothing is taken or counted twice. tests/flashsale/test_flash_lane.py compares the lane's
answers with Flask's, byte for byte, for every kind.

LINLI_FLASH_LANE=0 sends every purchase through Flask.
"""
from __future__ import annotations

import io
import json
import re

from werkzeug.exceptions import HTTPException

from app.auth.security import fast_tokens, user_id_from_sub
from app.config import DEFAULT_SECRET
from app.errors import DomainError
from app.flashsale.purchase import take
from app.flashsale.schemas import PurchaseBody
from app.http import MAX_ID
from app.idempotency import InvalidIdempotencyKey
from app.idempotency import checked_key as idempotency_key
from app.request_context import REQUEST_ID_ENVIRON, environ_is_local, outside_flask_request_id, request_id_from
from app.request_gates import MAX_JSON_DEPTH, json_deeper_than

RAISED = "linli.flash.raised"  # environ: what the lane's take() raised, for the route to raise
_PATH = re.compile(r"/api/v1/flash-sales/([1-9][0-9]{0,9})/purchase")
_LENGTH = re.compile(r"[1-9][0-9]{0,3}")
MAX_BODY = 4096  # bytes; a longer body (no purchase needs one) goes to Flask


class PurchaseLane:
    def __init__(self, app, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app
        self.default_secret = app.extensions["linli.settings"].secret_key == DEFAULT_SECRET
        self._ready = None

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            m = _PATH.fullmatch(environ.get("PATH_INFO") or "")
            if m is not None:
                answered = self._purchase(environ, start_response, int(m.group(1)))
                if answered is not None:
                    return answered
        return self.wsgi_app(environ, start_response)

    def _refusal(self, environ, e: Exception):
        """The response Flask gives when the route raises `e`: its error handler, then its
        after-request hooks (the request id) and response processing, in a request context of
        its own, without the before-request hooks, validation and view the lane already did."""
        app = self.app
        with app.request_context(environ):
            return app.finalize_request(app.handle_user_exception(e), from_error_handler=True)

    def _parts(self):
        """The route's own key check and purchase, and the app's token verifier (which needs an
        app context), worked out on first use."""
        if self._ready is None:
            with self.app.app_context():
                self._ready = (fast_tokens(self.app), idempotency_key, take)
        return self._ready

    def _purchase(self, environ, start_response, sale_id: int):
        """The answer (the 202, or a refusal as Flask renders it), or None: Flask answers the
        request (with RAISED set if take() raised something unexpected)."""
        tokens, idempotency_key, take = self._parts()
        if (tokens is None or sale_id > MAX_ID or environ.get("QUERY_STRING")
                or environ.get("CONTENT_TYPE") != "application/json" or "HTTP_TRANSFER_ENCODING" in environ
                or (self.default_secret and not environ_is_local(environ))):
            return None
        length = environ.get("CONTENT_LENGTH") or ""
        if not _LENGTH.fullmatch(length) or int(length) > MAX_BODY:
            return None
        sub = tokens.user_sub(environ.get("HTTP_AUTHORIZATION", ""))
        if sub is None:
            return None
        try:
            user_id = user_id_from_sub(sub)
        except ValueError:
            return None
        try:
            key = idempotency_key(environ.get("HTTP_IDEMPOTENCY_KEY"))
        except InvalidIdempotencyKey:
            return None
        raw = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(raw)  # for Flask, should it answer after all
        if len(raw) != int(length):
            return None
        try:
            obj = json.loads(raw)
            if type(obj) is not dict or json_deeper_than(obj, MAX_JSON_DEPTH):
                return None
            body = PurchaseBody.model_validate(obj)
        except Exception:  # noqa: BLE001 - not JSON, or not a valid body: Flask says which
            return None
        # The request's id, as Flask would take it: logged with anything take() logs, answered
        # with the 202, and Flask's own should it answer after all.
        rid = environ[REQUEST_ID_ENVIRON] = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        logged_as = outside_flask_request_id.set(rid)
        try:
            with self.app.app_context():
                out = take(sale_id, user_id, body, key, environ.get("REMOTE_ADDR"))
        except (DomainError, HTTPException) as e:  # a refusal (sold out, over a limit, 429, 503...)
            return self._refusal(environ, e)(environ, start_response)
        except Exception as e:  # noqa: BLE001 - unexpected: the route raises it again, Flask logs and answers
            environ[RAISED] = e
            return None
        finally:
            outside_flask_request_id.reset(logged_as)
        data = out.model_dump_json().encode()
        start_response("202 ACCEPTED", [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                                        ("X-Request-ID", rid)])
        return [data]


def install(app) -> None:
    """Put the lane in front of the app's WSGI callable (when LINLI_FLASH_LANE is on)."""
    if app.extensions["linli.settings"].flash_lane:
        app.wsgi_app = PurchaseLane(app, app.wsgi_app)
