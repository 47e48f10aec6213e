from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer
from sqlmodel import Field, SQLModel

from app.db import ts_field


class RunState(str, enum.Enum):
    """pending: never tried; running: claimed by a job or the CLI; waiting: WeChat Pay's bill was
    not to be had yet (tried again at next_attempt_at); done: matched, the outcome stored;
    failed: out of attempts, or an error an operator must look at (a new run may still be asked)."""

    pending = "pending"
    running = "running"
    waiting = "waiting"
    done = "done"
    failed = "failed"


class ReconcileRun(SQLModel, table=True):
    """One row per bill date: its last run's state and outcome, and the totals on both sides."""

    __tablename__ = "reconcile_runs"
    __table_args__ = (Index("ix_reconcile_runs_state_next", "state", "next_attempt_at"),)

    bill_date: date = Field(primary_key=True)
    state: str = Field(default=RunState.pending.value, max_length=16)
    # balanced | discrepancies: of the last run that finished (a re-run leaves it shown until it ends)
    outcome: str | None = Field(default=None, max_length=16)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    error: str | None = Field(default=None, max_length=500)
    totals: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    started_at: datetime | None = ts_field()
    finished_at: datetime | None = ts_field()
    next_attempt_at: datetime | None = ts_field()
    updated_at: datetime = ts_field(default_now=True)


class ReconcileDiscrepancy(SQLModel, table=True):
    """One thing that does not agree, as the last finished run of its date found it."""

    __tablename__ = "reconcile_discrepancies"

    id: int | None = Field(default=None, primary_key=True)
    bill_date: date = Field(foreign_key="reconcile_runs.bill_date", index=True)
    # payment | refund | transfer, or the name of one of our own books (points_ledger, ...)
    subject: str = Field(max_length=32)
    kind: str = Field(max_length=16)  # missing_ours | missing_wechat | amount_mismatch
    ref: str = Field(max_length=64)
    ours: int | None = Field(default=None, sa_type=BigInteger)
    wechat: int | None = Field(default=None, sa_type=BigInteger)
    expected: int | None = Field(default=None, sa_type=BigInteger)  # a book's entries summed
    detail: str = Field(default="", max_length=200)
