"""Small helpers every blueprint shares: settings, JSON responses, documented errors."""
from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Any

from flask import Response, current_app
from pydantic import BaseModel, BeforeValidator, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.config import Settings


def settings() -> Settings:
    return current_app.extensions["linli.settings"]


def respond(model: BaseModel | dict | list, status: int = 200, headers: dict | None = None) -> Response:
    payload = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    resp = Response(json.dumps(payload, ensure_ascii=False, default=str), status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


# Row ids are PostgreSQL `integer` columns; a larger number can name nothing, and SQLite would
# fail to even bind one past 2**63 (a 500), so such ids are refused as invalid input (422).
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _iso_date(value: Any) -> Any:
    # pydantic reads "0" or "86400" as a Unix time (1970-01-01...): a calendar date in this API
    # is written YYYY-MM-DD, nothing else.
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("date_format", "Input should be a date written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class JsonBody(BaseModel):
    """Base for JSON request bodies: every value must already have the JSON type the OpenAPI
    document gives it (false is not 0, "12" is not 12, 0 is not false), as the document
    promises clients. flask-openapi3 hands over the parsed JSON; validating it again as JSON
    text in strict mode keeps ISO dates and datetimes working, which strict Python mode would not.
    """

    @classmethod
    def model_validate(cls, obj: Any, *, strict: bool | None = None, from_attributes: bool | None = None,
                       context: Any | None = None, **kwargs: Any):
        if strict is None and not from_attributes and isinstance(obj, dict):
            model = cls.model_validate_json(json.dumps(_integral(obj)), strict=True, context=context, **kwargs)
            _refuse_nul(cls.__name__, model.model_dump())
            return model
        return super().model_validate(obj, strict=strict, from_attributes=from_attributes, context=context, **kwargs)


def _integral(value: Any) -> Any:
    """3000.0 is an integer to JSON Schema (and the same number to JavaScript): pass it as 3000."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _refuse_nul(title: str, obj: Any) -> None:
    """PostgreSQL text cannot hold U+0000 (the insert would fail with a 500): refuse it in any
    accepted field (ignored extra keys do not matter), as a validation error at its location."""
    def walk(value: Any, loc: tuple):
        if isinstance(value, str):
            if "\x00" in value:
                yield loc, value
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from walk(v, loc + (k,))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from walk(v, loc + (i,))

    found = list(walk(obj, ()))
    if found:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=PydanticCustomError("nul_character", "Text must not contain NUL (U+0000)"),
                             loc=loc, input=value) for loc, value in found])


class QueryModel(BaseModel):
    """Base for query-string models.

    flask-openapi3 (4.3) calls model_json_schema() on every request to read the query string,
    which costs more than a whole /healthz request; the schema cannot change, so the no-argument
    call (the one it makes) is built once per model. The OpenAPI document passes arguments and
    still gets a fresh schema.
    """

    @classmethod
    def model_json_schema(cls, *args, **kwargs) -> dict[str, Any]:
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        cached = _query_schemas.get(cls)
        if cached is None:
            cached = _query_schemas[cls] = super().model_json_schema()
        return cached


_query_schemas: dict[type, dict[str, Any]] = {}


def problem_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
