"""The earnings ledger: every change of a leader's `available` is one entry, written in the same
transaction as a conditional UPDATE of the account that takes the row's lock first, so entries of
one leader are written in the order their balances chain in (each `balance_after` is the previous
one plus the entry's amount) and no balance ever goes below zero. (kind, source) is unique: each
movement happens once, whoever gets there twice."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.db import dialect_insert, utcnow
from app.earnings.errors import InsufficientEarnings
from app.earnings.models import OPEN, EarningsAccount, EarningsEntry, EntryKind, Withdrawal, WithdrawalStatus
from app.pagination import keyset

# Credits that first pay back what a reversal could not take when it came.
PAY_OWED_FROM = (EntryKind.commission.value, EntryKind.pay_code_sale.value)


def ensure_account(session: Session, *, leader_id: int) -> None:
    stmt = dialect_insert(session, EarningsAccount.__table__).values(
        leader_id=leader_id, available=0, frozen=0, withdrawn=0, clawback_owed=0, updated_at=utcnow())
    session.execute(stmt.on_conflict_do_nothing(index_elements=["leader_id"]))


def lock_account(session: Session, *, leader_id: int) -> EarningsAccount:
    """The leader's account, created if need be, its row locked until the transaction ends
    (SQLite: the whole database already is, from the first write)."""
    ensure_account(session, leader_id=leader_id)
    return session.exec(select(EarningsAccount).where(EarningsAccount.leader_id == leader_id)
                        .with_for_update().execution_options(populate_existing=True)).one()


def get_account(session: Session, *, leader_id: int) -> EarningsAccount:
    account = session.get(EarningsAccount, leader_id)
    return account if account is not None else EarningsAccount(leader_id=leader_id)


def _exists(session: Session, kind: str, source: str) -> bool:
    return session.exec(select(EarningsEntry.id).where(EarningsEntry.kind == kind,
                                                       EarningsEntry.source == source)).first() is not None


class _Refused(RuntimeError):
    pass


def _move(session: Session, *, leader_id: int, amount: int, kind: str, source: str, frozen: int = 0,
          withdrawn: int = 0, owed: int = 0) -> tuple[EarningsEntry, int] | None:
    """Change the account by these deltas, never below zero, and write the entry. None if the
    (kind, source) movement was made already; raises _Refused if a balance would go negative.
    Returns the entry and the clawback still owed after it."""
    a = EarningsAccount
    q = update(a).where(a.leader_id == leader_id)
    for column, delta in ((a.available, amount), (a.frozen, frozen), (a.withdrawn, withdrawn),
                          (a.clawback_owed, owed)):
        if delta < 0:
            q = q.where(column >= -delta)
    q = q.values(available=a.available + amount, frozen=a.frozen + frozen, withdrawn=a.withdrawn + withdrawn,
                 clawback_owed=a.clawback_owed + owed, updated_at=utcnow())
    try:
        with session.begin_nested():
            row = session.execute(q.returning(a.available, a.clawback_owed)).first()
            if row is None:
                raise _Refused()
            entry = EarningsEntry(leader_id=leader_id, amount=amount, kind=kind, source=source, balance_after=row[0])
            session.add(entry)
            session.flush()
    except IntegrityError:
        if _exists(session, kind, source):
            return None  # a concurrent twin wrote this movement first
        raise
    return entry, row[1]


def credit(session: Session, *, leader_id: int, amount: int, kind: str, source: str) -> EarningsEntry | None:
    """Money in (a settled commission, a counter sale). Once per (kind, source)."""
    if amount <= 0 or _exists(session, kind, source):
        return None
    ensure_account(session, leader_id=leader_id)
    done = _move(session, leader_id=leader_id, amount=amount, kind=kind, source=source)
    if done is None:
        return None
    entry, owed = done
    if owed > 0 and kind in PAY_OWED_FROM:
        take = min(owed, entry.balance_after)
        _move(session, leader_id=leader_id, amount=-take, owed=-take, kind=EntryKind.commission_reversed.value,
              source=f"clawback:{kind}:{source}")
    return entry


def take_back(session: Session, *, leader_id: int, amount: int, kind: str, source: str) -> EarningsEntry | None:
    """Money credited before and now reversed (a settled commission, a counter sale refunded):
    what `available` holds is taken at once, the rest is owed and taken from the next credits
    (the entry records the clawback either way). Once per (kind, source)."""
    if amount <= 0 or _exists(session, kind, source):
        return None
    account = lock_account(session, leader_id=leader_id)
    taken = min(account.available, amount)
    done = _move(session, leader_id=leader_id, amount=-taken, owed=amount - taken, kind=kind, source=source)
    return done[0] if done else None


def commission_settled(session: Session, *, leader_id: int, commission_id: int, amount: int) -> EarningsEntry | None:
    """The commission domain's settlement: credited once per commission."""
    return credit(session, leader_id=leader_id, amount=amount, kind=EntryKind.commission.value,
                  source=f"commission:{commission_id}")


def commission_taken_back(session: Session, *, leader_id: int, commission_id: int, amount: int,
                          rebased_to: int | None = None) -> EarningsEntry | None:
    """A settled commission reversed (or shrunk to `rebased_to` by a partial refund): taken back once."""
    source = f"commission:{commission_id}" if rebased_to is None else f"commission:{commission_id}:rebase:{rebased_to}"
    return take_back(session, leader_id=leader_id, amount=amount, kind=EntryKind.commission_reversed.value,
                     source=source)


def pay_code_sale(session: Session, *, leader_id: int, charge_id: int, amount: int) -> EarningsEntry | None:
    """A counter sale paid with a buyer's pay code (the wallet issue calls this): credited once."""
    return credit(session, leader_id=leader_id, amount=amount, kind=EntryKind.pay_code_sale.value,
                  source=f"pay_code_charge:{charge_id}")


def pay_code_refunded(session: Session, *, leader_id: int, charge_id: int, amount: int) -> EarningsEntry | None:
    """That sale refunded: taken back once (what the balance no longer holds is owed)."""
    return take_back(session, leader_id=leader_id, amount=amount, kind=EntryKind.pay_code_refund.value,
                     source=f"pay_code_charge:{charge_id}")


def debit(session: Session, *, leader_id: int, amount: int, kind: str, source: str,
          to_frozen: bool = False) -> EarningsEntry | None:
    """Money out of `available` (into `frozen` for a withdrawal); 409 insufficient_earnings if
    it is not there. Once per (kind, source)."""
    if _exists(session, kind, source):
        return None
    ensure_account(session, leader_id=leader_id)
    try:
        done = _move(session, leader_id=leader_id, amount=-amount, frozen=amount if to_frozen else 0,
                     kind=kind, source=source)
    except _Refused:
        raise InsufficientEarnings(f"Your available earnings are less than {amount} fen.") from None
    return done[0] if done else None


def unfreeze(session: Session, *, leader_id: int, amount: int, source: str) -> EarningsEntry | None:
    """A withdrawal that will not be paid (rejected, failed, cancelled): frozen → available, once."""
    if _exists(session, EntryKind.withdrawal_returned.value, source):
        return None
    done = _move(session, leader_id=leader_id, amount=amount, frozen=-amount,
                 kind=EntryKind.withdrawal_returned.value, source=source)
    return done[0] if done else None


def paid_out(session: Session, *, leader_id: int, amount: int) -> None:
    """A withdrawal paid: frozen → withdrawn (available is unchanged, so no entry). The caller's
    conditional status change makes this happen once."""
    a = EarningsAccount
    updated = session.exec(update(a).where(a.leader_id == leader_id, a.frozen >= amount)
                           .values(frozen=a.frozen - amount, withdrawn=a.withdrawn + amount,
                                   updated_at=utcnow())).rowcount
    if not updated:
        raise RuntimeError(f"leader {leader_id}'s frozen earnings do not hold the {amount} fen being paid out")


def list_entries(session: Session, *, leader_id: int, before_id: int | None, limit: int) -> list[EarningsEntry]:
    q = select(EarningsEntry).where(EarningsEntry.leader_id == leader_id)
    return list(session.exec(keyset(q, EarningsEntry.id, before_id, limit)))


def entries_between(session: Session, *, leader_id: int, start: datetime, end: datetime) -> list[EarningsEntry]:
    return list(session.exec(select(EarningsEntry).where(
        EarningsEntry.leader_id == leader_id, EarningsEntry.created_at >= start, EarningsEntry.created_at < end)
        .order_by(EarningsEntry.id)))


def balance_before(session: Session, *, leader_id: int, at: datetime) -> int:
    row = session.exec(select(EarningsEntry.balance_after).where(
        EarningsEntry.leader_id == leader_id, EarningsEntry.created_at < at)
        .order_by(EarningsEntry.id.desc()).limit(1)).first()
    return int(row or 0)


# ---- our own books ------------------------------------------------------------------------

def ledger_discrepancies(session: Session) -> list[dict[str, Any]]:
    """Leaders whose books do not agree with themselves: entries that do not sum to `available`,
    a `balance_after` that does not chain from the entry before it, `frozen` that is not what sits
    in open withdrawals, `withdrawn` that is not what was paid. Reported, never fixed here."""
    e, w = EarningsEntry, Withdrawal
    sums = {lid: (int(total), int(n)) for lid, total, n in session.exec(
        select(e.leader_id, func.sum(e.amount), func.count()).group_by(e.leader_id)).all()}
    previous = func.lag(e.balance_after).over(partition_by=e.leader_id, order_by=e.id)
    chained = select(e.leader_id, e.amount, e.balance_after, previous.label("prev")).subquery()
    broken: dict[int, int] = defaultdict(int)
    for lid, amount, after, prev in session.execute(select(chained)).all():
        if after != (prev or 0) + amount:
            broken[lid] += 1
    open_sums: dict[int, int] = defaultdict(int)
    paid_sums: dict[int, int] = defaultdict(int)
    for lid, status, total in session.exec(select(w.leader_id, w.status, func.sum(w.amount))
                                           .group_by(w.leader_id, w.status)).all():
        if status in OPEN:
            open_sums[lid] += int(total)
        elif status == WithdrawalStatus.paid.value:
            paid_sums[lid] += int(total)
    accounts = {a.leader_id: a for a in session.exec(select(EarningsAccount)).all()}
    out = []
    for lid in sorted(set(accounts) | set(sums) | set(open_sums) | set(paid_sums)):
        a = accounts.get(lid) or EarningsAccount(leader_id=lid)
        ledger = sums.get(lid, (0, 0))[0]
        problems = []
        if ledger != a.available:
            problems.append("ledger_sum")
        if broken.get(lid):
            problems.append("balance_chain")
        if open_sums.get(lid, 0) != a.frozen:
            problems.append("frozen")
        if paid_sums.get(lid, 0) != a.withdrawn:
            problems.append("withdrawn")
        if problems:
            out.append({"leader_id": lid, "problems": problems, "available": a.available, "ledger_sum": ledger,
                        "broken_links": broken.get(lid, 0), "frozen": a.frozen, "open_withdrawals": open_sums.get(lid, 0),
                        "withdrawn": a.withdrawn, "paid_withdrawals": paid_sums.get(lid, 0)})
    return out


def transfers_between(session: Session, start: datetime, end: datetime) -> list[tuple[str, int, str]]:
    """Withdrawals WeChat Pay paid out in [start, end), as reconciliation reads transfers:
    (out_bill_no, amount transferred in fen, "SUCCESS")."""
    w = Withdrawal
    rows = session.exec(select(w.out_bill_no, w.transfer_amount).where(
        w.status == WithdrawalStatus.paid.value, w.out_bill_no.is_not(None),
        w.finished_at >= start, w.finished_at < end)).all()
    return [(no, int(amount), "SUCCESS") for no, amount in rows]


def withdrawals_by_status(session: Session) -> dict[str, tuple[int, datetime | None]]:
    """For GET /metrics: each status's withdrawals and the oldest one's last change."""
    rows = session.exec(select(Withdrawal.status, func.count(), func.min(Withdrawal.updated_at))
                        .group_by(Withdrawal.status))
    return {status: (n, oldest) for status, n, oldest in rows}
