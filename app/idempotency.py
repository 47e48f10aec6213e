"""Idempotency-Key: the same key from the same user on the same endpoint replays the first
response and has no second effect.

The key row is written in the same transaction as the use case it guards, so either both land
or neither does; a concurrent duplicate waits on the unique key and then replays.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from flask import Response, make_response, request
from sqlalchemy import JSON, Column, UniqueConstraint, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, select

from app.auth.security import current
from app.db import discard_after_commit, reading, transaction, ts_field, utcnow
from app.errors import DomainError, Unprocessable, ValidationFailed, field_error, problem

# The endpoints that honour Idempotency-Key, as the OpenAPI document writes them (it documents
# the header on exactly these).
IDEMPOTENT_PATHS = {"/api/v1/orders", "/api/v1/group-buys/{group_buy_id}/groups", "/api/v1/groups/{group_id}/join",
                    "/api/v1/bargain-records/{record_id}/order", "/api/v1/leader/withdrawals",
                    "/api/v1/leader/pay-code-charges"}


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "endpoint", "key", name="uq_idempotency_user_endpoint_key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    endpoint: str = Field(max_length=200)
    key: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)
    status_code: int
    body: Any = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = ts_field(default_now=True)


class InvalidIdempotencyKey(ValidationFailed):
    pass


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"


# 1..255 characters, none of them control characters (NUL above all: PostgreSQL text cannot hold it).
KEY = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")


def checked_key(value: str | None) -> str | None:
    """An Idempotency-Key header's value (None without one); 422 validation_error for a malformed one.
    The one check every endpoint honouring the header makes, the flash purchase's lane included."""
    if value is not None and not KEY.match(value):
        raise InvalidIdempotencyKey("Idempotency-Key must be 1..255 characters, none of them control characters.",
                                    errors=[field_error(["header", "Idempotency-Key"],
                                                        "must be 1..255 characters without control characters")])
    return value


def _replay(rec: IdempotencyRecord, fingerprint: str) -> Response:
    if rec.fingerprint != fingerprint:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different request body.")
    mimetype = "application/problem+json" if rec.status_code >= 400 else "application/json"
    resp = Response(json.dumps(rec.body, ensure_ascii=False), status=rec.status_code, mimetype=mimetype)
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def _find(user_id: int, endpoint: str, key: str) -> IdempotencyRecord | None:
    with reading() as s:
        return s.exec(select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.endpoint == endpoint,
            IdempotencyRecord.key == key)).first()


def idempotent(fn):
    @wraps(fn)
    def wrapper(*args, **kwargs):
        key = checked_key(request.headers.get("Idempotency-Key"))
        if key is None:
            return fn(*args, **kwargs)
        user_id = current().user_id
        endpoint = request.path
        fingerprint = hashlib.sha256(request.get_data()).hexdigest()
        existing = _find(user_id, endpoint, key)
        if existing is not None:
            return _replay(existing, fingerprint)
        try:
            with transaction() as s:
                try:
                    resp = fn(*args, **kwargs)
                except DomainError as e:
                    # A refused request is remembered too (it is the first response), but its
                    # own writes are rolled back.
                    resp = problem(e.status, e.code, e.detail, title=e.title, **e.extra)
                    s.rollback()
                    discard_after_commit()
                resp = _as_response(resp)
                if resp.status_code < 500:
                    s.add(IdempotencyRecord(user_id=user_id, endpoint=endpoint, key=key,
                                            fingerprint=fingerprint, status_code=resp.status_code,
                                            body=resp.get_json(silent=True)))
                    s.flush()
        except IntegrityError:
            # A concurrent request with the same key won; answer with what it answered.
            existing = _find(user_id, endpoint, key)
            if existing is None:
                raise
            return _replay(existing, fingerprint)
        return resp

    return wrapper


def _as_response(rv) -> Response:

    return make_response(rv)


def purge_idempotency_keys_job(max_age_hours: int = 48) -> int:
    """Keys are kept long enough for any client retry, then dropped (run hourly)."""



    with transaction() as s:
        return s.exec(delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < utcnow() - timedelta(hours=max_age_hours))).rowcount
