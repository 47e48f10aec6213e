"""Domain errors with stable codes, and their one mapping to RFC 9457 problem+json."""
from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

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


class Unprocessable(DomainError):
    status, code = 422, "unprocessable"


class ServiceUnavailable(DomainError):
    status, code = 503, "service_unavailable"


class ProblemModel(BaseModel):
    """RFC 9457 problem details, as every error response of this API."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str
    errors: list[dict[str, Any]] | None = None


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
        body["errors"] = errors
    body.update(extra)
    resp = Response(json.dumps(body, ensure_ascii=False, default=str), status=status, mimetype=PROBLEM)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def validation_problem(e: ValidationError) -> Response:
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in e.errors(include_url=False, include_context=False, include_input=False)
    ]
    return problem(422, "validation_error", "The request did not validate.", errors=errors)


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
    500: "internal_error", 503: "service_unavailable",
}


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
        headers = dict(e.get_headers()) if status in (405, 429) else {}
        headers.pop("Content-Type", None)
        return problem(status, _HTTP_CODES.get(status, "http_error"), e.description, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "internal_error", "An unexpected error occurred; it has been logged.")
