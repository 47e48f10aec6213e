from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import ts_field


class TargetType(str, enum.Enum):
    product = "product"
    flash_sale = "flash_sale"
    group = "group"
    bargain_record = "bargain_record"


class Share(SQLModel, table=True):
    __tablename__ = "shares"
    __table_args__ = (Index("ix_shares_sharer_target", "sharer_id", "target_type", "target_id"),)

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=32, unique=True)
    sharer_id: int = Field(foreign_key="users.id")
    target_type: str = Field(max_length=16)
    target_id: int
    # The sharer's point (and its leader) when they shared: newcomers are bound to it.
    pickup_point_id: int | None = None
    leader_id: int | None = Field(default=None, foreign_key="leaders.id")
    created_at: datetime = ts_field(default_now=True)


class ShareOpen(SQLModel, table=True):
    """A visitor's visit to a share: one row per (share, visitor) whatever races; opened_at is the
    latest open (attribution's clock), first_opened_at the first."""
    __tablename__ = "share_opens"
    __table_args__ = (UniqueConstraint("share_id", "visitor_id", name="uq_share_opens_share_visitor"),
                      Index("ix_share_opens_visitor_opened", "visitor_id", "opened_at"))

    id: int | None = Field(default=None, primary_key=True)
    share_id: int = Field(foreign_key="shares.id")
    visitor_id: int = Field(foreign_key="users.id")
    bound: bool = False
    first_opened_at: datetime = ts_field(default_now=True)
    opened_at: datetime = ts_field(default_now=True)


class SharePoster(SQLModel, table=True):
    """A share's poster, rendered once (it costs a WeChat call): served from here ever after."""
    __tablename__ = "share_posters"

    share_id: int = Field(foreign_key="shares.id", primary_key=True)
    png: bytes = Field(sa_type=LargeBinary)
    etag: str = Field(max_length=64)
    created_at: datetime = ts_field(default_now=True)
