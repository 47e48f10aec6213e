"""Domain errors with stable codes, and their one mapping to RFC 9457 problem+json."""
from __future__ import annotations

import json
import logging
from functools import lru_cache
from http import HTTPStatus
from typing import Any, get_type_hints

from flask import Flask, Response, current_app, has_request_context, request
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from app.db import database_unreachable, transaction_conflict

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


class DomainError(Exception):
    status = 400
    code = "bad_request"
    title: str | None = None

    def __init__(self, detail: str | None = None, **extra: Any):
        super().__init__(detail or self.code)
        self.detail = detail
        self.extra = extra


class BadRequest(DomainError):
    status, code = 400, "bad_request"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class InvalidState(Conflict):
    code = "invalid_state"


# Refusals every time-boxed campaign shares (flash sale, group-buy, bargain): one code each.
class NotStarted(Conflict):
    code = "not_started"


class Ended(Conflict):
    code = "ended"


class SoldOut(Conflict):
    code = "sold_out"


class LimitExceeded(Conflict):
    code = "limit_exceeded"


class Unprocessable(DomainError):
    status, code = 422, "unprocessable"


class ValidationFailed(Unprocessable):
    """A value that passed its schema but not a rule checked by hand (a campaign's window, an
    Idempotency-Key's shape, a cursor): the same code as a schema refusal."""
    code = "validation_error"


class ServiceUnavailable(DomainError):
    status, code = 503, "service_unavailable"


class FieldError(BaseModel):
    """One refused value. `loc` starts with the part of the request it came from: ["body", "items",
    0, "qty"], ["query", "limit"], ["path", "order_id"], ["header", "Idempotency-Key"]."""

    loc: list[str | int]
    msg: str
    type: str


class ProblemModel(BaseModel):
    """RFC 9457 problem details, as every error response of this API (some codes add members,
    e.g. `status_now` on invalid_state)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str
    errors: list[FieldError] | None = Field(default=None, description="validation_error: what was refused, where")


def problem(status: int, code: str, detail: str | None = None, *, title: str | None = None,
            errors: list | None = None, headers: dict | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {
        "type": f"https://linli.dev/problems/{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or HTTPStatus(status).description,
        "code": code,
    }
    if errors is not None:
        # Every entry has the same three keys, whoever wrote it (pydantic or a check by hand).
        body["errors"] = [{**e, "type": e.get("type") or "value_error"} if isinstance(e, dict) else e for e in errors]
    body.update(extra)
    resp = Response(json.dumps(body, ensure_ascii=False, default=str), status=status, mimetype=PROBLEM)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


# Where a value came from, as the first element of every validation error's `loc`:
# ["body", "items", 0, "qty"], ["query", "limit"], ["path", "order_id"], ["header", "Idempotency-Key"].
REQUEST_PARTS = ("path", "query", "header", "cookie", "form", "body")


def field_error(loc: list, msg: str, type_: str = "value_error") -> dict[str, Any]:
    """One entry of a validation problem's `errors`, for checks made outside pydantic."""
    return {"loc": list(loc), "msg": msg, "type": type_}


@lru_cache(maxsize=None)
def _parts_of(view) -> dict[str, str]:
    """model name → request part, from the view's annotations (flask-openapi3 validates each part
    with its own model, and pydantic's loc starts inside the model)."""
    try:
        hints = get_type_hints(view)
    except Exception:  # noqa: BLE001 - a view without readable hints has no parts to name
        return {}
    return {getattr(hints[part], "__name__", ""): part for part in REQUEST_PARTS if part in hints}


def _request_part(title: str) -> str | None:
    if not has_request_context() or not request.endpoint:
        return None
    view = current_app.view_functions.get(request.endpoint)
    return _parts_of(view).get(title) if view is not None else None


def validation_problem(e: ValidationError) -> Response:
    part = _request_part(e.title)
    prefix = [part] if part else []
    errors = [field_error(prefix + list(err.get("loc", ())), err.get("msg", ""), err.get("type", ""))
              for err in e.errors(include_url=False, include_context=False, include_input=False)]
    return problem(422, "validation_error", "The request did not validate.", errors=errors)


HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
    414: "uri_too_long", 415: "unsupported_media_type", 417: "expectation_failed", 422: "validation_error",
    429: "rate_limited", 431: "request_header_fields_too_large", 500: "internal_error", 501: "not_implemented",
    503: "service_unavailable",
}


def error_codes() -> list[str]:
    """Every `code` a client can meet: the HTTP-level ones above and every DomainError subclass's.
    Each domain keeps its refusals in `app/<domain>/errors.py`; app/wiring.py imports every one of
    them, so once the app is wired this walk sees them all (tests/test_wiring.py holds the list)."""
    codes = set(HTTP_CODES.values()) | {"http_error"}
    todo = [DomainError]
    while todo:
        cls = todo.pop()
        codes.add(cls.code)
        todo.extend(cls.__subclasses__())
    return sorted(codes)


# A database outage: come back in this many seconds (a restart or a failover takes a few).
DATABASE_RETRY_AFTER_S = 2

# Only these statuses tell a client when to come back.
RETRY_AFTER_STATUSES = (429, 503)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(e: DomainError):
        return problem(e.status, e.code, e.detail, title=e.title, **e.extra)

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError):
        return validation_problem(e)

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        # flask-openapi3 aborts with a ready response for validation errors: keep it.
        if e.response is not None:
            return e.response
        status = e.code or 500
        headers = dict(e.get_headers()) if status == 405 or status in RETRY_AFTER_STATUSES else {}
        headers.pop("Content-Type", None)
        return problem(status, HTTP_CODES.get(status, "http_error"), e.description, headers=headers)

    @app.errorhandler(DBAPIError)
    def _database(e: DBAPIError):
        # A database that cannot be reached is an outage, said as one (on every route, as a Redis
        # outage is); the pool's pre-ping reconnects by itself once it is back. A transaction
        # the database aborted (deadlock, serialization) that retry_conflicts did not save, or
        # that ran without it, is worth trying again too.
        if database_unreachable(e):
            log.error("database unreachable on %s %s: %s", request.method, request.path,
                      str(getattr(e, "orig", e)).strip()[:200])
            return problem(503, "service_unavailable", "The database cannot be reached right now; try again shortly.",
                           headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})
        if transaction_conflict(e):
            log.warning("transaction aborted on %s %s: %s", request.method, request.path,
                        str(getattr(e, "orig", e)).strip()[:200])
            return problem(503, "service_unavailable", "The request met a concurrent one; try again.",
                           headers={"Retry-After": "1"})
        return _unexpected(e)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "internal_error", "An unexpected error occurred; it has been logged.")
