"""create_app: the Flask app with its extensions, wiring, error handlers and OpenAPI document."""
from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from types import FunctionType

from flask import Response, redirect
from flask_openapi3 import Info, OpenAPI
from redis import Redis
from sqlalchemy import text

from app import logging_setup
from app.auth.security import check_access_first
from app.chat.routes import sock, ws_bp
from app.config import Settings
from app.db import get_engine, make_engine
from app.errors import (RETRY_AFTER_STATUSES, ProblemModel, error_codes, problem, register_error_handlers,
                        validation_problem)
from app.extensions import jwt, limiter
from app.flashsale import lane
from app.http import OptionalJsonBody
from app.idempotency import IDEMPOTENT_PATHS
from app.payment.gateways import make_provider
from app.request_context import install_request_handling
from app.request_gates import reject_malformed_json
from app.web.routes import register_web
from app.wiring import register_blueprints, wire

log = logging.getLogger(__name__)

_COMMON_ERRORS = {"400": "Malformed request (bad JSON)", "404": "Not found", "422": "Validation failed",
                  "429": "Rate limited",
                  "503": "service_unavailable: the database (or another backing service) cannot be reached, "
                         "or a concurrent request won; try again after Retry-After"}
_AUTH_ERRORS = {"401": "Missing or invalid token", "403": "Wrong role or not your resource"}
_WRITE_ERRORS = {"409": "Conflict with the resource's current state"}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again",
                                "schema": {"type": "integer", "minimum": 0}}}


class LinliOpenAPI(OpenAPI):
    """The app, with an OpenAPI document that generated clients read well: every operation has a
    short operationId and a summary (given on the route decorators), documents its problem+json
    errors (one `Problem` schema whose `code` enum lists every code a client can meet), and says
    `security: []` when it is public; paths are written in full."""

    def add_url_rule(self, rule, endpoint=None, view_func=None, provide_automatic_options=None, **options):
        # `<int:order_id>` would answer /orders/abc with a routing 404 and /orders/0 with a 422: the
        # path is matched as text instead and its model (an Id) refuses both alike, a 422
        # validation_error at ["path", "order_id"]. The document still says integer, from the model.
        rule = re.sub(r"<int:([A-Za-z_][A-Za-z0-9_]*)>", r"<\1>", rule)
        return super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)

    def ensure_sync(self, func):
        # Flask asks this of every hook and view on every request, and answers by inspecting the
        # function's code flags each time (about 10 µs a request): a function's answer never changes.
        if type(func) is not FunctionType:
            return super().ensure_sync(func)
        known = self.__dict__.setdefault("_linli_sync", {})
        sync = known.get(func)
        if sync is None:
            sync = known[func] = super().ensure_sync(func)
        return sync

    def process_response(self, response):
        response = super().process_response(response)
        # flask-limiter puts Retry-After on every response it counts; it means "come back later"
        # and belongs to 429 and 503 alone.
        if response.status_code not in RETRY_AFTER_STATUSES:
            response.headers.pop("Retry-After", None)
        return response

    def generate_spec_json(self):
        super().generate_spec_json()
        spec = self.spec_json
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        problem_schema = ProblemModel.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem_schema.pop("$defs", {}))
        problem_schema["properties"]["code"]["enum"] = error_codes()
        problem_schema["properties"]["code"]["description"] = "Stable, snake_case: switch on it"
        schemas["Problem"] = problem_schema
        optional_bodies = _subclass_names(OptionalJsonBody)
        schemas.pop("ValidationErrorModel", None)
        for path, item in spec["paths"].items():
            for method, op in item.items():
                op.setdefault("security", [])  # public: said, not left to a default
                responses = op.setdefault("responses", {})
                wanted = dict(_COMMON_ERRORS)
                if op["security"]:
                    wanted.update(_AUTH_ERRORS)
                if method in ("post", "put", "patch", "delete"):
                    wanted.update(_WRITE_ERRORS)
                for status, desc in wanted.items():
                    # flask-openapi3's own 422 (its ValidationErrorModel) gives way; a route's
                    # problem_response(...) with a more precise description stays.
                    if "application/problem+json" not in responses.get(status, {}).get("content", {}):
                        responses[status] = {"description": desc}
                for status, resp in responses.items():
                    if status.startswith(("4", "5")):
                        resp["content"] = {"application/problem+json": {"schema": dict(_PROBLEM_REF)}}
                        if int(status) in RETRY_AFTER_STATUSES:
                            resp["headers"] = dict(_RETRY_AFTER)
                        else:
                            resp.pop("headers", None)
                body = op.get("requestBody")
                if body is not None:
                    ref = body.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                    if ref.rsplit("/", 1)[-1] in optional_bodies:
                        # The server reads no body as {} (OptionalJsonBody): the document says so.
                        body["required"] = False
                        body["description"] = "Optional: no body at all means `{}` (every field has a default)"
                if method == "post" and path in IDEMPOTENT_PATHS:
                    op.setdefault("parameters", []).append({
                        "name": "Idempotency-Key", "in": "header", "required": False,
                        "description": "Same key, same user, same endpoint: the first response is replayed",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                   "pattern": "^[^\\x00-\\x1f\\x7f]+$"}})


def _subclass_names(cls) -> set[str]:
    names, todo = set(), list(cls.__subclasses__())
    while todo:
        sub = todo.pop()
        names.add(sub.__name__)
        todo.extend(sub.__subclasses__())
    return names


def create_app(settings: Settings | None = None) -> OpenAPI:
    settings = settings or Settings()
    app = LinliOpenAPI(
        __name__,
        info=Info(title="linli API", version="1.0.0",
                  description="Community group-buying: order today, pick up tomorrow at a neighbour's pickup point."),
        security_schemes={"jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        doc_prefix="/api/docs",
        doc_url="/openapi.json",
        validation_error_status=422,
        validation_error_callback=validation_problem,
    )
    app.config.update(
        JSON_AS_ASCII=False,
        SECRET_KEY=settings.secret_key,
        JWT_SECRET_KEY=settings.secret_key,
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=settings.token_ttl_s),
        # The header only: a token in a URL ends up in access logs and browser history. The
        # WebSocket route alone reads ?token= (app.auth.security.websocket_principal).
        JWT_TOKEN_LOCATION=["headers"],
        JWT_QUERY_STRING_NAME="token",
        RATELIMIT_ENABLED=settings.ratelimit_enabled,
        RATELIMIT_STORAGE_URI=settings.redis_url,
        RATELIMIT_DEFAULT=settings.ratelimit_default,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,  # Redis down: serve rather than fail every request
        MAX_CONTENT_LENGTH=1 * 1024 * 1024,
    )

    logging_setup.install()
    logging_setup.register_settings_secrets(settings)
    app.extensions["linli.settings"] = settings
    app.extensions["linli.engine"] = make_engine(settings.database_url)
    app.extensions["linli.redis"] = Redis.from_url(settings.redis_url, socket_timeout=5, health_check_interval=30)
    app.extensions["linli.payment_provider"] = make_provider(settings)
    jwt.init_app(app)
    limiter.init_app(app)
    register_error_handlers(app)
    install_request_handling(app, settings)
    _jwt_problems(jwt)

    register_blueprints(app)
    # The WebSocket: a plain blueprint (not an OpenAPI operation); protocol pings find dead peers.
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": settings.ws_heartbeat_s}
    app.register_blueprint(ws_bp)
    sock.init_app(app)
    register_web(app)
    wire()

    # Who may call comes before what they sent: 401/403 ahead of 400/422 (registered first).
    app.before_request(check_access_first)

    app.before_request(reject_malformed_json)

    @app.get("/healthz", doc_ui=False)
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz", doc_ui=False)
    def readyz():
        checks = {}
        try:
            with get_engine().connect() as c:
                c.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as e:  # noqa: BLE001 - report, never raise
            checks["database"] = f"error: {type(e).__name__}"
        try:
            app.extensions["linli.redis"].ping()
            checks["redis"] = "ok"
        except Exception as e:  # noqa: BLE001
            checks["redis"] = f"error: {type(e).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return Response(json.dumps({"status": "ok" if ok else "unavailable", "checks": checks}),
                        status=200 if ok else 503, mimetype="application/json")

    @app.get("/api/v1/openapi.json", doc_ui=False)
    def openapi_json():
        return app.api_doc

    @app.get("/api/docs", doc_ui=False)
    def docs_home():
        return redirect("/api/docs/swagger", code=302)

    limiter.exempt(healthz)
    limiter.exempt(readyz)

    lane.install(app)  # last: in front of Flask's own WSGI callable
    return app


def _jwt_problems(jwt) -> None:
    def unauthorized(reason: str):
        return problem(401, "unauthorized", reason)

    jwt.unauthorized_loader(lambda reason: unauthorized(reason))
    jwt.invalid_token_loader(lambda reason: unauthorized(reason))
    jwt.expired_token_loader(lambda header, payload: unauthorized("The token has expired."))
    jwt.revoked_token_loader(lambda header, payload: unauthorized("The token has been revoked."))
    jwt.needs_fresh_token_loader(lambda header, payload: unauthorized("A fresh token is required."))
