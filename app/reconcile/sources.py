"""The seams reconciliation reads through, filled by app/wiring.py (never by an import).

TRANSFER_SOURCES: callables (session, start, end) → the transfers to users whose money moved in
[start, end), as (out_bill_no, amount in fen, state); a state of SUCCESS (or paid) means WeChat
Pay took the amount from the account, so the fund-flow bill must show it.

BOOK_CHECKS: name → callable(session) → the accounts of one of our own ledgers whose entries do
not sum to their balance, as Finding rows or (ref, balance, entries_sum) tuples.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app.earnings import service as earnings_service
from app.points import service as points_service
from app.wallet import service as wallet_service


@dataclass(frozen=True)
class Finding:
    subject: str  # payment | refund | transfer | a book check's name
    kind: str  # missing_ours | missing_wechat | amount_mismatch
    ref: str
    ours: int | None
    wechat: int | None
    expected: int | None = None
    detail: str = ""


TransferSource = Callable[[Session, datetime, datetime], Iterable[tuple[str, int, str]]]
BookCheck = Callable[[Session], Iterable[Any]]

TRANSFER_SOURCES: list[TransferSource] = []
BOOK_CHECKS: dict[str, BookCheck] = {}


def points_ledger(session: Session) -> list[tuple[str, int, int]]:
    """Every user's points entries sum to their points balance."""
    return [(f"user:{user_id}", balance, total)
            for user_id, balance, total in points_service.ledger_mismatches(session)]


def earnings_ledger(session: Session) -> list[Finding]:
    """Every leader's earnings: entries sum to `available`, `balance_after` chains, `frozen` is
    what open withdrawals hold and `withdrawn` what was paid (each broken rule named)."""
    return [Finding("leader_earnings", "amount_mismatch", f"leader:{d['leader_id']}", d["available"], None,
                    expected=d["ledger_sum"], detail="broken: " + ", ".join(d["problems"]))
            for d in earnings_service.ledger_discrepancies(session)]


def wallets_ledger(session: Session) -> list[Finding]:
    """Every buyer's wallet: entries' principal and bonus parts sum to the account's, and
    `balance_after` chains (each broken rule named)."""
    return [Finding("wallets", "amount_mismatch", f"user:{d['user_id']}", d["balance"], None,
                    expected=d["ledger_sum"], detail="broken: " + ", ".join(d["problems"]))
            for d in wallet_service.ledger_mismatches(session)]
