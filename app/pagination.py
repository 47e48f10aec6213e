"""Cursor pagination shared by every list endpoint: ?limit= (1..100) and an opaque ?cursor=."""
from __future__ import annotations

import base64
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from app.errors import Unprocessable, field_error
from app.http import MAX_ID, QueryModel

T = TypeVar("T")


# What encode_cursor writes: "id:<1..2**31-1>" in unpadded base64url ("aWQ6" is "id:").
CURSOR_PATTERN = r"^aWQ6[A-Za-z0-9_-]{2,14}$"


class PageQuery(QueryModel):
    """?limit= and ?cursor=, the query of every list endpoint (others subclass it)."""

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, pattern=CURSOR_PATTERN, description=(
        "Opaque: the `next_cursor` of the previous page, passed back unchanged. Anything else is a 422 "
        "validation_error at [\"query\", \"cursor\"]."))


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class InvalidCursor(Unprocessable):
    code = "validation_error"


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id after which (descending) the next page starts; None for the first page."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "id":
            raise ValueError(kind)
        last_id = int(value)
        if not 1 <= last_id <= MAX_ID:  # a forged cursor must not reach the database as a huge int
            raise ValueError(value)
        return last_id
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidCursor("cursor is not one this API issued",
                            errors=[field_error(["query", "cursor"], "invalid cursor", "cursor")]) from e


def page_of(rows: list, limit: int, key=lambda r: r.id) -> tuple[list, str | None]:
    """rows were fetched with limit + 1: trim and compute the next cursor."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(key(rows[-1]))
    return rows, None


def keyset(query, id_column, before_id: int | None, limit: int):
    """Newest first by id, one page after the cursor's id, one row more than the page (so that
    page_of knows whether a next page exists)."""
    query = query.order_by(id_column.desc()).limit(limit + 1)
    if before_id:
        query = query.where(id_column < before_id)
    return query
