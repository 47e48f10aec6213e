from __future__ import annotations

from datetime import date, datetime
from enum import Enum

from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import ts_field


class EntryKind(str, Enum):
    recharge = "recharge"  # a paid recharge: principal and bonus in
    payment = "payment"  # an order paid from the wallet
    refund = "refund"  # a wallet-paid order's money back, in the proportions it came out
    recharge_refund = "recharge_refund"  # a refunded recharge: its principal and bonus out again
    pay_code = "pay_code"  # a counter sale paid with the pay code
    pay_code_refund = "pay_code_refund"
    adjust = "adjust"  # an operator's correction


class WalletAccount(SQLModel, table=True):
    """A buyer's stored value. The balance is principal + bonus; both are the sums of the ledger's
    entries' parts, and neither goes below zero (the CHECKs behind every conditional UPDATE)."""

    __tablename__ = "wallet_accounts"
    __table_args__ = (
        CheckConstraint("principal >= 0", name="principal_not_negative"),
        CheckConstraint("bonus >= 0", name="bonus_not_negative"),
        CheckConstraint("growth >= 0", name="growth_not_negative"),
    )

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    principal: int = Field(default=0, sa_type=BigInteger)  # fen paid in by the buyer
    bonus: int = Field(default=0, sa_type=BigInteger)  # fen given by packages: never refunded as cash
    growth: int = Field(default=0, sa_type=BigInteger)  # 1 per yuan paid on picked-up orders
    updated_at: datetime = ts_field(default_now=True)


class WalletEntry(SQLModel, table=True):
    __tablename__ = "wallet_entries"
    # Each movement happens once: (kind, ref) names it, e.g. ("payment", "order:12").
    __table_args__ = (UniqueConstraint("kind", "ref", name="uq_wallet_entries_kind_ref"),
                      Index("ix_wallet_entries_user_id_id", "user_id", "id"),
                      CheckConstraint("amount = principal + bonus", name="amount_is_parts"))

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    amount: int = Field(sa_type=BigInteger)  # signed: principal + bonus
    principal: int = Field(sa_type=BigInteger)  # signed part of principal
    bonus: int = Field(sa_type=BigInteger)  # signed part of bonus
    kind: str = Field(max_length=20)
    ref: str = Field(max_length=64)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    balance_after: int = Field(sa_type=BigInteger)
    created_at: datetime = ts_field(default_now=True)


class RechargePackage(SQLModel, table=True):
    __tablename__ = "recharge_packages"
    __table_args__ = (CheckConstraint("pay_amount > 0", name="pay_amount_positive"),
                      CheckConstraint("bonus_amount >= 0", name="bonus_amount_not_negative"))

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=50)
    pay_amount: int = Field(sa_type=BigInteger)
    bonus_amount: int = Field(default=0, sa_type=BigInteger)
    active: bool = True
    created_at: datetime = ts_field(default_now=True)


class RechargeStatus(str, Enum):
    pending_payment = "pending_payment"
    paid = "paid"
    refunded = "refunded"


class Recharge(SQLModel, table=True):
    """A top-up: paid through the payment path (out_trade_no LR + id), credited once."""

    __tablename__ = "wallet_recharges"
    __table_args__ = (CheckConstraint("pay_amount > 0", name="pay_amount_positive"),
                      CheckConstraint("bonus_amount >= 0", name="bonus_amount_not_negative"))

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    package_id: int = Field(foreign_key="recharge_packages.id")
    pay_amount: int = Field(sa_type=BigInteger)
    bonus_amount: int = Field(sa_type=BigInteger)
    status: str = Field(default=RechargeStatus.pending_payment.value, max_length=20)
    created_at: datetime = ts_field(default_now=True)
    paid_at: datetime | None = ts_field()
    refunded_at: datetime | None = ts_field()


class MemberLevel(SQLModel, table=True):
    __tablename__ = "member_levels"
    __table_args__ = (CheckConstraint("discount_percent >= 0 AND discount_percent <= 30", name="discount_in_range"),
                      CheckConstraint("min_growth >= 0", name="min_growth_not_negative"))

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=30)
    min_growth: int = Field(sa_type=BigInteger, unique=True)
    discount_percent: int
    created_at: datetime = ts_field(default_now=True)


class GrowthEntry(SQLModel, table=True):
    """Growth earned by a picked-up order, and taken back when it is refunded: once each."""

    __tablename__ = "wallet_growth_entries"
    __table_args__ = (UniqueConstraint("order_id", "kind", name="uq_wallet_growth_entries_order_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    order_id: int = Field(foreign_key="orders.id")
    kind: str = Field(max_length=10)  # earn | reverse
    amount: int = Field(sa_type=BigInteger)  # signed
    created_at: datetime = ts_field(default_now=True)


class PayCodeStatus(str, Enum):
    active = "active"
    used = "used"
    voided = "voided"  # a newer code replaced it


class PayCode(SQLModel, table=True):
    __tablename__ = "pay_codes"
    __table_args__ = (Index("ix_pay_codes_user_id_status", "user_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    code: str = Field(max_length=18, unique=True)
    status: str = Field(default=PayCodeStatus.active.value, max_length=10)
    expires_at: datetime = ts_field()
    created_at: datetime = ts_field(default_now=True)
    used_at: datetime | None = ts_field()


class PayCodeCharge(SQLModel, table=True):
    """An over-the-counter sale paid with a pay code: one per code (single use)."""

    __tablename__ = "pay_code_charges"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),
                      Index("ix_pay_code_charges_leader_id_id", "leader_id", "id"))

    id: int | None = Field(default=None, primary_key=True)
    pay_code_id: int = Field(foreign_key="pay_codes.id", unique=True)
    buyer_id: int = Field(foreign_key="users.id", index=True)
    leader_id: int = Field(foreign_key="leaders.id")
    pickup_point_id: int | None = Field(default=None, foreign_key="pickup_points.id")
    amount: int = Field(sa_type=BigInteger)
    principal: int = Field(sa_type=BigInteger)
    bonus: int = Field(sa_type=BigInteger)
    note: str | None = Field(default=None, max_length=100)
    status: str = Field(default="charged", max_length=10)  # charged | refunded
    business_date: date
    created_at: datetime = ts_field(default_now=True)
    refunded_at: datetime | None = ts_field()
