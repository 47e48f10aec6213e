"""Small helpers every blueprint shares: settings, JSON responses, documented errors."""
from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Any

from flask import Response
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.config import current_settings

settings = current_settings


def respond(model: BaseModel | dict | list, status: int = 200, headers: dict | None = None) -> Response:
    # A model is written by pydantic's own serializer (the JSON mode's values, in one pass)
    body = (model.model_dump_json() if isinstance(model, BaseModel)
            else json.dumps(model, ensure_ascii=False, default=str))
    resp = Response(body, status=status, mimetype="application/json")
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


# ---- free text: only what a person types ---------------------------------------------------
#
# One rule for every text a client sends, written once as a regular expression that is both the
# server's check (applied with fullmatch) and the `pattern` in the OpenAPI document, so generated
# clients and schemathesis agree with the server. Python `re` and ECMA-262 with the `u` flag (JSON
# Schema's dialect) read it alike; without `u` a JavaScript client would count an emoji's two
# UTF-16 halves as lone surrogates. Refused, never stripped:
# C0 and C1 control characters (tab and newlines only in multi-line text), DEL, zero-width
# characters (U+200B..U+200D, U+2060, U+FEFF), bidi embeddings, overrides and isolates
# (U+202A..U+202E, U+2066..U+2069), the line and paragraph separators U+2028/U+2029, lone
# surrogates, and text made of whitespace alone.
_NEVER = (r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2028-\u202e\u2060\u2066-\u2069"
          r"\ufeff\ud800-\udfff")
_LINE_BREAKS = r"\t\n\r"
_SPACES = r" \xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
_VISIBLE = f"[^{_NEVER}{_LINE_BREAKS}{_SPACES}]"
ONE_LINE_PATTERN = f"^[^{_NEVER}{_LINE_BREAKS}]*{_VISIBLE}[^{_NEVER}{_LINE_BREAKS}]*$"
MULTI_LINE_PATTERN = f"^[^{_NEVER}]*{_VISIBLE}[^{_NEVER}]*$"
_ONE_LINE_BAD = re.compile(f"[{_NEVER}{_LINE_BREAKS}]")
_MULTI_LINE_BAD = re.compile(f"[{_NEVER}]")


def _text_check(multiline: bool, allow_empty: bool):
    pattern = re.compile(MULTI_LINE_PATTERN if multiline else ONE_LINE_PATTERN)
    bad = _MULTI_LINE_BAD if multiline else _ONE_LINE_BAD

    def check(value: str) -> str:
        if (allow_empty and value == "") or pattern.fullmatch(value):
            return value
        found = bad.search(value)
        if found:
            raise PydanticCustomError(
                "text_character", f"Text must not contain U+{ord(found.group()):04X} (control, zero-width, bidi "
                "and line-break characters are refused)")
        raise PydanticCustomError("text_blank", "Text must contain a visible character, not whitespace alone")

    return check


class _TextFamily:
    """`Name[100]`: a str of at most 100 characters under one of the rules above."""

    def __init__(self, *, multiline: bool, allow_empty: bool, rule: str):
        self.multiline, self.allow_empty, self.rule = multiline, allow_empty, rule
        self._types: dict[int, Any] = {}

    def __getitem__(self, max_length: int) -> Any:
        if max_length not in self._types:
            pattern = MULTI_LINE_PATTERN if self.multiline else ONE_LINE_PATTERN
            if self.allow_empty:
                pattern = f"^$|{pattern}"
            self._types[max_length] = Annotated[str, Field(
                min_length=0 if self.allow_empty else 1, max_length=max_length,
                json_schema_extra={"pattern": pattern, "x-linli-text": self.rule}),
                AfterValidator(_text_check(self.multiline, self.allow_empty))]
        return self._types[max_length]


# Names, nicknames, addresses, opening hours, short reasons: one line with a visible character.
Name = _TextFamily(multiline=False, allow_empty=False, rule="one line of visible text")
# Longer texts that must say something (a rejection reason): tabs and newlines allowed.
Text = _TextFamily(multiline=True, allow_empty=False, rule="visible text; tabs and newlines allowed")
# Optional texts (descriptions, notes): as Text, or "" to leave it empty.
MultilineText = _TextFamily(multiline=True, allow_empty=True,
                            rule="empty, or visible text; tabs and newlines allowed")

# Image URLs: https, a plain host name (IDN in punycode), printable URL characters, a sane length.
HTTPS_URL_PATTERN = (r"^https://[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                     r"(?::[0-9]{1,5})?(?:[/?#][A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]*)?$")
_HTTPS_URL = re.compile(HTTPS_URL_PATTERN)


def _https_url(value: str) -> str:
    if not _HTTPS_URL.fullmatch(value):
        raise PydanticCustomError("https_url", "Input should be an https:// URL of printable URL characters")
    return value


HttpsUrl = Annotated[str, Field(min_length=9, max_length=1024, json_schema_extra={"pattern": HTTPS_URL_PATTERN}),
                     AfterValidator(_https_url)]

# Money: WeChat Pay takes nothing below 1 fen.
Price = Annotated[int, Field(ge=1, le=100_000_000, description="fen (1 fen at least: WeChat Pay's minimum)")]


class JsonBody(BaseModel):
    """Base for JSON request bodies: every value must already have the JSON type the OpenAPI
    document gives it (false is not 0, "12" is not 12, 0 is not false), as the document
    promises clients. flask-openapi3 hands over the parsed JSON; validating it again as JSON
    text in strict mode keeps ISO dates and datetimes working, which strict Python mode would not.
    An unknown member is refused (422 naming it), as a misspelt field silently ignored would do
    something the client did not ask for (a full refund for {"refund_amount": ...}).
    """

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def model_validate(cls, obj: Any, *, strict: bool | None = None, from_attributes: bool | None = None,
                       context: Any | None = None, **kwargs: Any):
        if strict is None and not from_attributes and isinstance(obj, dict):
            _refuse_lone_surrogates(cls.__name__, obj)
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


def _strings(value: Any, loc: tuple = ()):
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield (loc + (k,)), k
            yield from _strings(v, loc + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, loc + (i,))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_lone_surrogates(title: str, obj: Any) -> None:
    """JSON's \\ud800 escapes can spell half a character, which no text column can hold: refused
    where it stands (before the strict re-validation, whose parser would only say "invalid JSON")."""
    found = [(loc, value) for loc, value in _strings(obj) if _SURROGATE.search(value)]
    if found:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=PydanticCustomError("text_character", "Text must not contain a lone surrogate"),
                             loc=loc, input=value) for loc, value in found])


def _refuse_nul(title: str, obj: Any) -> None:
    """PostgreSQL text cannot hold U+0000 (the insert would fail with a 500): refuse it in any
    accepted field (ignored extra keys do not matter), as a validation error at its location.
    The text types refuse it already; this also covers any string field that is not one."""
    found = [(loc, value) for loc, value in _strings(obj) if "\x00" in value]
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


class OptionalJsonBody(JsonBody):
    """A body whose fields are all optional, so a POST without a body means {} (the contract lists
    such bodies as optional)."""

    @classmethod
    def model_validate(cls, obj, **kwargs):
        return super().model_validate({} if obj is None else obj, **kwargs)
