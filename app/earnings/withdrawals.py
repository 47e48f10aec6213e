"""Withdrawals (团长提现): asked for, reviewed, paid by a transfer bill, or returned.

Statuses move only by conditional updates (`WHERE status IN (...)`), so a notification racing a
look-up or a sweep changes a withdrawal once, and the money moves with the change that won:
paid → frozen becomes withdrawn; failed or rejected → frozen goes back to available (once more
guarded by the ledger's unique (kind, source))."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import func, or_, update
from sqlmodel import Session, select

from app.config import Settings
from app.db import get_or_raise, utcnow
from app.earnings import service as earnings_service
from app.earnings.errors import WithdrawalBelowMinimum, WithdrawalLimitReached, WithdrawalNotFound
from app.earnings.models import IN_FLIGHT, EntryKind, Withdrawal, WithdrawalStatus
from app.errors import InvalidState
from app.pagination import keyset
from app.payment.transfers import out_bill_no

S = WithdrawalStatus


def source_of(withdrawal_id: int) -> str:
    return f"withdrawal:{withdrawal_id}"


def business_day_start(settings: Settings, now: datetime) -> datetime:
    local = now.astimezone(settings.tz)
    return datetime.combine(local.date(), time(0), tzinfo=settings.tz)


def request_withdrawal(session: Session, *, settings: Settings, leader_id: int, amount: int,
                       now: datetime | None = None) -> Withdrawal:
    """The amount leaves `available` at once (into `frozen`); reviewing, or approved when below
    LINLI_WITHDRAW_AUTO_APPROVE."""
    now = now or utcnow()
    smallest = max(settings.withdraw_min, settings.withdraw_fee + 1)
    if amount < smallest:
        raise WithdrawalBelowMinimum(f"A withdrawal is at least {smallest} fen.", smallest=smallest,
                                     errors=[{"loc": ["body", "amount"], "msg": f"at least {smallest} fen"}])
    # The account's row lock serialises one leader's requests: the day's count is then exact.
    earnings_service.lock_account(session, leader_id=leader_id)
    today = session.exec(select(func.count()).select_from(Withdrawal).where(
        Withdrawal.leader_id == leader_id, Withdrawal.created_at >= business_day_start(settings, now))).one()
    if today >= settings.withdraw_daily_count:
        raise WithdrawalLimitReached(f"At most {settings.withdraw_daily_count} withdrawals a day.")
    auto = amount < settings.withdraw_auto_approve
    w = Withdrawal(leader_id=leader_id, amount=amount, fee=settings.withdraw_fee,
                   transfer_amount=amount - settings.withdraw_fee, created_at=now, updated_at=now,
                   status=S.approved.value if auto else S.reviewing.value, reviewed_at=now if auto else None)
    session.add(w)
    session.flush()
    w.out_bill_no = out_bill_no(w.id)
    earnings_service.debit(session, leader_id=leader_id, amount=amount, kind=EntryKind.withdrawal.value,
                           source=source_of(w.id), to_frozen=True)
    session.flush()
    return w


def get(session: Session, withdrawal_id: int) -> Withdrawal:
    return get_or_raise(session, Withdrawal, withdrawal_id, WithdrawalNotFound, "Withdrawal")


def get_for_leader(session: Session, *, leader_id: int, withdrawal_id: int) -> Withdrawal:
    w = session.get(Withdrawal, withdrawal_id)
    if w is None or w.leader_id != leader_id:  # another leader's is as missing as none
        raise WithdrawalNotFound(f"Withdrawal {withdrawal_id} does not exist.")
    return w


def by_bill_no(session: Session, bill_no: str) -> Withdrawal | None:
    return session.exec(select(Withdrawal).where(Withdrawal.out_bill_no == bill_no)).first()


def list_withdrawals(session: Session, *, leader_id: int | None, status: str | None, before_id: int | None,
                     limit: int) -> list[Withdrawal]:
    q = select(Withdrawal)
    if leader_id is not None:
        q = q.where(Withdrawal.leader_id == leader_id)
    if status:
        q = q.where(Withdrawal.status == status)
    return list(session.exec(keyset(q, Withdrawal.id, before_id, limit)))


def _change(session: Session, withdrawal_id: int, from_statuses: tuple[str, ...], **values) -> bool:
    values.setdefault("updated_at", utcnow())
    return bool(session.exec(update(Withdrawal).where(Withdrawal.id == withdrawal_id,
                                                      Withdrawal.status.in_(from_statuses))
                             .values(**values)).rowcount)


def _refuse(session: Session, withdrawal_id: int, what: str):
    w = get(session, withdrawal_id)
    raise InvalidState(f"Withdrawal {withdrawal_id} is {w.status}; only a reviewing one can be {what}.")


def approve(session: Session, *, withdrawal_id: int) -> None:
    if not _change(session, withdrawal_id, (S.reviewing.value,), status=S.approved.value, reviewed_at=utcnow()):
        _refuse(session, withdrawal_id, "approved")


def reject(session: Session, *, withdrawal_id: int, reason: str | None) -> None:
    if not _change(session, withdrawal_id, (S.reviewing.value,), status=S.rejected.value, reject_reason=reason,
                   reviewed_at=utcnow(), finished_at=utcnow()):
        _refuse(session, withdrawal_id, "rejected")
    _return(session, withdrawal_id)


def _return(session: Session, withdrawal_id: int) -> None:
    w = get(session, withdrawal_id)
    earnings_service.unfreeze(session, leader_id=w.leader_id, amount=w.amount, source=source_of(w.id))


def claim_request(session: Session, *, withdrawal_id: int) -> bool:
    """Mark that the transfer request is about to be sent: from here on the bill may exist. Only
    one caller wins, and only for an approved withdrawal with no request in flight."""
    return bool(session.exec(update(Withdrawal).where(
        Withdrawal.id == withdrawal_id, Withdrawal.status == S.approved.value, Withdrawal.requested_at.is_(None))
        .values(requested_at=utcnow(), attempts=Withdrawal.attempts + 1, updated_at=utcnow())).rowcount)


def release_request(session: Session, *, withdrawal_id: int, seen: datetime) -> bool:
    """A look-up found no bill for the request made at `seen`: a new request may be sent (with
    the same out_bill_no, so even a late-arriving first request cannot make a second bill)."""
    return bool(session.exec(update(Withdrawal).where(
        Withdrawal.id == withdrawal_id, Withdrawal.status == S.approved.value, Withdrawal.requested_at == seen)
        .values(requested_at=None, updated_at=utcnow())).rowcount)


def note_error(session: Session, *, withdrawal_id: int, error: str) -> None:
    session.exec(update(Withdrawal).where(Withdrawal.id == withdrawal_id)
                 .values(last_error=error[:500], updated_at=utcnow()))


def apply_bill(session: Session, *, withdrawal_id: int, state: str, transfer_bill_no: str | None = None,
               package_info: str | None = None, fail_reason: str | None = None) -> str | None:
    """What WeChat Pay says about the bill (an answer, a look-up or a notification, in any order).
    Returns the withdrawal's new status if this call changed it, else None."""
    now = utcnow()
    common = {"bill_state": state, "updated_at": now}
    if transfer_bill_no:
        common["transfer_bill_no"] = transfer_bill_no
    if state == "SUCCESS":
        if _change(session, withdrawal_id, IN_FLIGHT, status=S.paid.value, finished_at=now, **common):
            w = get(session, withdrawal_id)
            earnings_service.paid_out(session, leader_id=w.leader_id, amount=w.amount)
            return S.paid.value
        return None
    if state in ("FAIL", "CANCELLED"):
        if _change(session, withdrawal_id, IN_FLIGHT, status=S.failed.value, finished_at=now,
                   fail_reason=(fail_reason or state)[:128], **common):
            _return(session, withdrawal_id)
            return S.failed.value
        return None
    values = dict(common, status=S.awaiting_confirmation.value,
                  bill_created_at=func.coalesce(Withdrawal.bill_created_at, now))
    if package_info:
        values["package_info"] = package_info
    changed = _change(session, withdrawal_id, IN_FLIGHT, **values)
    return S.awaiting_confirmation.value if changed else None


def refused_for_good(session: Session, *, withdrawal_id: int, reason: str) -> bool:
    """WeChat Pay refused the transfer request outright (no bill was made): failed, returned."""
    if _change(session, withdrawal_id, (S.approved.value,), status=S.failed.value, finished_at=utcnow(),
               fail_reason=reason[:128]):
        _return(session, withdrawal_id)
        return True
    return False


def in_flight(session: Session, *, quiet_since: datetime) -> list[int]:
    """Withdrawals whose bill is not final yet and untouched since `quiet_since`: approved ones
    (a request lost, or sent with no answer) and those waiting for the leader's confirmation."""
    return list(session.exec(select(Withdrawal.id).where(
        Withdrawal.status.in_(IN_FLIGHT),
        or_(Withdrawal.updated_at < quiet_since, Withdrawal.status == S.awaiting_confirmation.value))
        .order_by(Withdrawal.id)).all())


def confirm_deadline_passed(w: Withdrawal, *, settings: Settings, now: datetime) -> bool:
    return (w.status == S.awaiting_confirmation.value and w.bill_state == "WAIT_USER_CONFIRM"
            and w.bill_created_at is not None
            and w.bill_created_at + timedelta(hours=settings.transfer_confirm_ttl_h) <= now)
