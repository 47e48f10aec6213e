"""One day's WeChat Pay bills matched against our books, and what a run found, stored per date.

Every bill line is looked for on our side, and everything of ours of that day in the bill:
missing on our side (WeChat Pay has it, we do not), missing at WeChat (we have it, the bill does
not), or both with different amounts. A line of the bill that we hold under another day (a payment
that landed a second before midnight, recorded after it) is not missing: lines are looked up by
their key whatever their date. Our own ledgers are checked through BOOK_CHECKS. Nothing is ever
corrected here."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, select

from app.db import dialect_insert
from app.payment import service as payment_service
from app.payment.bills import WECHAT_TZ, FundLine, TradeLine
from app.payment.providers import trade_no_of
from app.reconcile.models import ReconcileDiscrepancy, ReconcileRun, RunState
from app.reconcile.sources import BookCheck, Finding, TransferSource

# A run still "running" after this long died with its process: another may take the date over.
STALE_RUN = timedelta(minutes=30)
TRANSFER_TAKEN = {"SUCCESS", "PAID"}
Entries = dict[str, tuple[str, int]]  # key → (ref shown to operators, amount in fen)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a bill date: WeChat Pay's day, in Beijing time."""
    start = datetime.combine(day, time(0), tzinfo=WECHAT_TZ)
    return start, start + timedelta(days=1)


def _add(entries: Entries, key: str, ref: str, amount: int) -> None:
    # Two lines under one key add up (a duplicate line is then an amount mismatch, not hidden).
    seen = entries.get(key)
    entries[key] = (ref, amount + (seen[1] if seen else 0))


def compare(subject: str, *, ours: Entries, theirs: Entries, known: Entries) -> list[Finding]:
    """`ours`: the day's records of ours; `theirs`: the bill's; `known`: records of ours found
    under the keys of bill lines that `ours` lacks (held under another day, or not expected)."""
    found = []
    for key, (ref, amount) in theirs.items():
        mine = ours.get(key) or known.get(key)
        if mine is None:
            found.append(Finding(subject, "missing_ours", ref, None, amount, detail=f"WeChat Pay: {key}"))
        elif mine[1] != amount:
            found.append(Finding(subject, "amount_mismatch", ref, mine[1], amount, detail=f"WeChat Pay: {key}"))
    found += [Finding(subject, "missing_wechat", ref, amount, None) for key, (ref, amount) in ours.items()
              if key not in theirs]
    return found


def _totals(entries: Entries) -> dict[str, int]:
    return {"count": len(entries), "amount": sum(amount for _, amount in entries.values())}


def match_day(session: Session, *, day: date, trade: list[TradeLine], fund: list[FundLine],
              transfer_sources: Iterable[TransferSource], book_checks: Mapping[str, BookCheck]
              ) -> tuple[list[Finding], dict[str, Any]]:
    start, end = day_bounds(day)
    findings: list[Finding] = []

    # Payments, by WeChat Pay's transaction id (one per out_trade_no); shown by out_trade_no.
    their_pay: Entries = {}
    for line in (t for t in trade if t.kind == "payment"):
        _add(their_pay, line.transaction_id, line.out_trade_no, line.amount)
    our_pay: Entries = {p.transaction_id: (trade_no_of(p), p.amount)
                        for p in payment_service.wechatpay_payments_between(session, start=start, end=end)}
    known_pay = {k: (trade_no_of(p), p.amount) for k, p in payment_service.wechatpay_payments_by_transaction(
        session, [k for k in their_pay if k not in our_pay]).items()}
    findings += compare("payment", ours=our_pay, theirs=their_pay, known=known_pay)

    # Refunds, by our out_refund_no.
    their_refund: Entries = {}
    for line in (t for t in trade if t.kind == "refund"):
        _add(their_refund, line.out_refund_no, line.out_refund_no, line.amount)
    our_refund: Entries = {r.out_refund_no: (r.out_refund_no, r.amount)
                           for r in payment_service.wechatpay_refunds_between(session, start=start, end=end)}
    known_refund = {k: (k, r.amount) for k, r in payment_service.wechatpay_refunds_by_number(
        session, [k for k in their_refund if k not in our_refund]).items()}
    findings += compare("refund", ours=our_refund, theirs=their_refund, known=known_refund)

    # Transfers to users, by out_bill_no (the fund-flow bill's 业务凭证号): what left the account,
    # net of what came back to it.
    our_transfer: Entries = {}
    not_taken: Entries = {}  # ours, but not taken by WeChat Pay (failed, cancelled, in flight)
    for source in transfer_sources:
        for no, amount, state in source(session, start, end):
            _add(our_transfer if state.upper() in TRANSFER_TAKEN else not_taken, no, no, amount)
    not_taken = {k: (ref, 0) for k, (ref, _) in not_taken.items() if k not in our_transfer}
    their_transfer: Entries = {}
    for line in fund:
        key = line.voucher or line.wechat_no
        if line.is_transfer or key in our_transfer or key in not_taken:
            _add(their_transfer, key, key, -line.amount if line.income else line.amount)
    their_transfer = {k: v for k, v in their_transfer.items() if v[1] != 0}
    findings += compare("transfer", ours=our_transfer, theirs=their_transfer, known=not_taken)

    for name, check in book_checks.items():
        for item in check(session):
            if isinstance(item, Finding):
                findings.append(item)
                continue
            ref, balance, entries_sum = item
            findings.append(Finding(name, "amount_mismatch", str(ref), balance, None, expected=entries_sum,
                                    detail=f"the entries sum to {entries_sum}, the balance is {balance}"))

    totals = {
        "ours": {"payments": _totals(our_pay), "refunds": _totals(our_refund), "transfers": _totals(our_transfer)},
        "wechat": {"payments": _totals(their_pay), "refunds": _totals(their_refund),
                   "transfers": _totals(their_transfer),
                   "fund_in": sum(f.amount for f in fund if f.income),
                   "fund_out": sum(f.amount for f in fund if not f.income)},
    }
    return findings, totals


# ---- runs ---------------------------------------------------------------------------------------

def claim(session: Session, *, day: date, now: datetime) -> int | None:
    """Take the date for a run: its attempt number, or None if another run holds it."""
    session.execute(dialect_insert(session, ReconcileRun.__table__)
                    .values(bill_date=day, state=RunState.pending.value, attempts=0, totals={}, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["bill_date"]))
    taken = session.exec(
        update(ReconcileRun)
        .where(ReconcileRun.bill_date == day,
               or_(ReconcileRun.state != RunState.running.value, ReconcileRun.started_at < now - STALE_RUN))
        .values(state=RunState.running.value, attempts=ReconcileRun.attempts + 1, started_at=now,
                next_attempt_at=None, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if not taken:
        return None
    return session.exec(select(ReconcileRun.attempts).where(ReconcileRun.bill_date == day)).one()


def _settle(session: Session, day: date, attempt: int, **values) -> bool:
    """Write a run's end, unless a later run of the date has taken it over meanwhile."""
    return bool(session.exec(
        update(ReconcileRun)
        .where(ReconcileRun.bill_date == day, ReconcileRun.state == RunState.running.value,
               ReconcileRun.attempts == attempt)
        .values(**values).execution_options(synchronize_session=False)).rowcount)


def finish(session: Session, *, day: date, attempt: int, findings: list[Finding], totals: dict[str, Any],
           now: datetime) -> bool:
    outcome = "discrepancies" if findings else "balanced"
    if not _settle(session, day, attempt, state=RunState.done.value, outcome=outcome, totals=totals, error=None,
                   finished_at=now, updated_at=now):
        return False
    session.exec(delete(ReconcileDiscrepancy).where(ReconcileDiscrepancy.bill_date == day))
    session.add_all([ReconcileDiscrepancy(bill_date=day, subject=f.subject[:32], kind=f.kind, ref=f.ref[:64],
                                          ours=f.ours, wechat=f.wechat, expected=f.expected, detail=f.detail[:200])
                     for f in findings])
    return True


def hold(session: Session, *, day: date, attempt: int, error: str, now: datetime, retry_in: timedelta | None) -> str:
    """The bill could not be had: wait for the next attempt (retry_in), or fail (None)."""
    state = RunState.waiting if retry_in is not None else RunState.failed
    _settle(session, day, attempt, state=state.value, error=error[:500], updated_at=now,
            next_attempt_at=now + retry_in if retry_in is not None else None)
    return state.value


def due_dates(session: Session, *, now: datetime) -> list[date]:
    """Dates waiting for an attempt that is due, or left running by a process that died."""
    return list(session.exec(select(ReconcileRun.bill_date).where(or_(
        (ReconcileRun.state == RunState.waiting.value) & (ReconcileRun.next_attempt_at <= now),
        (ReconcileRun.state == RunState.running.value) & (ReconcileRun.started_at < now - STALE_RUN)))
        .order_by(ReconcileRun.bill_date).limit(100)))


def report(session: Session, *, day: date) -> dict[str, Any]:
    run = session.get(ReconcileRun, day)
    if run is None:
        return {"date": day, "status": "not_run", "run": None, "totals": {"ours": {}, "wechat": {}},
                "discrepancies": []}
    rows = session.exec(select(ReconcileDiscrepancy).where(ReconcileDiscrepancy.bill_date == day)
                        .order_by(ReconcileDiscrepancy.id)) if run.outcome else []
    return {"date": day, "status": run.outcome or "not_run",
            "run": {"state": run.state, "attempts": run.attempts, "error": run.error, "started_at": run.started_at,
                    "finished_at": run.finished_at, "next_attempt_at": run.next_attempt_at},
            "totals": {"ours": run.totals.get("ours", {}), "wechat": run.totals.get("wechat", {})},
            "discrepancies": [{"subject": d.subject, "kind": d.kind, "ref": d.ref, "ours": d.ours, "wechat": d.wechat,
                               "expected": d.expected, "detail": d.detail} for d in rows]}
