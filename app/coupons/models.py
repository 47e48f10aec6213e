from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import ts_field


class CouponKind(str, enum.Enum):
    fixed = "fixed"      # value: fen off
    percent = "percent"  # value: percent off (1..99), capped by max_discount if given


class CouponStatus(str, enum.Enum):
    unused = "unused"
    used = "used"        # on an order (unpaid or paid); back to unused if that order is cancelled or refunded
    expired = "expired"  # stored only for a coupon whose order ended after it expired; otherwise
                         # an unused coupon past expires_at reads as expired


class CouponTemplate(SQLModel, table=True):
    __tablename__ = "coupon_templates"
    __table_args__ = (
        # The counter every issue (claim or grant) moves by a conditional UPDATE; the CHECK is the
        # database's own word that no race ever issues more than total.
        CheckConstraint("issued >= 0 AND issued <= total", name="issued_within_total"),
        CheckConstraint("value > 0", name="value_positive"),
        CheckConstraint("per_user_limit >= 1", name="per_user_limit_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60)
    kind: str = Field(max_length=10)
    value: int = Field(sa_type=BigInteger)
    max_discount: int | None = Field(default=None, sa_type=BigInteger)  # percent coupons: the cap (fen)
    min_spend: int = Field(default=0, sa_type=BigInteger)
    total: int = Field(sa_type=BigInteger)
    issued: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    per_user_limit: int = 1
    valid_from: datetime = ts_field(nullable=False)
    valid_to: datetime = ts_field(nullable=False)
    valid_days: int | None = None  # a claimed coupon lasts this many days (never past valid_to)
    product_ids: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    claimable: bool = True  # False: only leaders hand it out (grants within their quotas)
    created_at: datetime = ts_field(default_now=True)


class Coupon(SQLModel, table=True):
    __tablename__ = "coupons"
    __table_args__ = (
        # A buyer's n-th coupon of a template is seq n (1..per_user_limit): two claims racing for
        # the same slot cannot both land, and a grant (seq 1) reaches a fan at most once.
        UniqueConstraint("template_id", "owner_id", "seq", name="uq_coupons_template_owner_seq"),
        Index("ix_coupons_owner_status", "owner_id", "status"),
        CheckConstraint("seq >= 1", name="seq_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="coupon_templates.id", index=True)
    owner_id: int = Field(foreign_key="users.id")
    seq: int
    status: str = Field(default=CouponStatus.unused.value, max_length=10)
    leader_id: int | None = Field(default=None, foreign_key="leaders.id")  # granted by (None: claimed)
    grant_id: int | None = Field(default=None, foreign_key="coupon_grants.id")
    claimed_at: datetime = ts_field(default_now=True)
    expires_at: datetime = ts_field(nullable=False)
    used_at: datetime | None = ts_field()


class LeaderCouponQuota(SQLModel, table=True):
    """How many coupons of a template a leader may hand out, and how many they have."""

    __tablename__ = "leader_coupon_quotas"
    __table_args__ = (CheckConstraint("granted >= 0 AND granted <= quota", name="granted_within_quota"),)

    template_id: int = Field(foreign_key="coupon_templates.id", primary_key=True)
    leader_id: int = Field(foreign_key="leaders.id", primary_key=True)
    quota: int = Field(sa_type=BigInteger)
    granted: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    updated_at: datetime = ts_field(default_now=True)


class CouponGrant(SQLModel, table=True):
    """One leader's grant to a segment of their fans."""

    __tablename__ = "coupon_grants"

    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="coupon_templates.id", index=True)
    leader_id: int = Field(foreign_key="leaders.id", index=True)
    segment: str = Field(max_length=10)
    granted: int = 0
    created_at: datetime = ts_field(default_now=True)
