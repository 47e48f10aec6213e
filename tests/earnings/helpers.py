"""Small builders for the earnings tests."""
from __future__ import annotations

import itertools

from sqlmodel import select

from app.db import transaction
from app.earnings import service as earnings_service
from app.earnings.models import EarningsAccount, EarningsEntry, Withdrawal

_source = itertools.count(1)


def earn(app, leader_id: int, amount: int, kind: str = "commission", source: str | None = None):
    """Credit a leader's earnings as a settled commission would."""
    with app.app_context(), transaction() as s:
        return earnings_service.credit(s, leader_id=leader_id, amount=amount, kind=kind,
                                       source=source or f"test:{next(_source)}")


def account(app, leader_id: int) -> EarningsAccount:
    with app.app_context(), transaction() as s:
        return s.get(EarningsAccount, leader_id) or EarningsAccount(leader_id=leader_id)


def balances(app, leader_id: int) -> tuple[int, int, int]:
    a = account(app, leader_id)
    return a.available, a.frozen, a.withdrawn


def entries(app, leader_id: int) -> list[tuple[str, int, int]]:
    with app.app_context(), transaction() as s:
        return [(e.kind, e.amount, e.balance_after) for e in s.exec(
            select(EarningsEntry).where(EarningsEntry.leader_id == leader_id).order_by(EarningsEntry.id))]


def withdrawal(app, withdrawal_id: int) -> Withdrawal:
    with app.app_context(), transaction() as s:
        return s.get(Withdrawal, withdrawal_id)


def discrepancies(app) -> list[dict]:
    with app.app_context(), transaction() as s:
        return earnings_service.ledger_discrepancies(s)
