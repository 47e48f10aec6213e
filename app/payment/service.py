"""Money in and out. Every successful payment, whatever the provider, goes through
confirm_payment; every refund is created by _create_refund (through refund_order, refund_amount
or a payment that cannot be applied) and moved on by the refund job, the sweep and the provider's
notifications, each with a conditional UPDATE so that none overwrites a later state."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.db import get_or_raise, utcnow
from app.errors import InvalidState, Unprocessable
from app.order import queries as order_queries
from app.order import transitions as order_transitions
from app.order.models import Order
from app.payment.errors import NothingToRefund, RefundExceedsPayment, RefundNotFound, UnknownTrade
from app.payment.models import Payment, Refund, RefundStatus
from app.payment.providers import (PaymentEvent, RefundEvent, RefundResult, order_id_from_trade_no, out_trade_no,
                                   recharge_id_from_trade_no)
from app.queue import enqueue
from app.wallet import recharges as wallet_recharges
from app.wallet import service as wallet_service

log = logging.getLogger(__name__)
R = RefundStatus

# A refund the provider could not take is tried again by RQ (5 retries over ~20 minutes), then by
# the sweep; after this many attempts (a few hours of WeChat Pay refusing or unreachable) it is
# failed and waits for an operator.
MAX_REFUND_ATTEMPTS = 24
# A refund left pending (its job lost, or out of retries) or processing (no notification came)
# this long is picked up by the sweep; longer than RQ's last retry interval (900 s).
REDRIVE_AFTER = timedelta(minutes=30)


def confirm_payment(session: Session, *, provider_name: str, event: PaymentEvent) -> Payment:
    """Apply a verified payment exactly once per provider transaction.

    Returns the Payment row (the existing one on a replay). A real payment is never refused:
    one whose amount is not the order's total is recorded as "amount_mismatch", one for an order
    that can no longer take it as "late", and either is refunded in full. Raises UnknownTrade
    when no order matches.
    """
    existing = session.exec(select(Payment).where(Payment.provider == provider_name,
                                                  Payment.transaction_id == event.transaction_id)).first()
    if existing is not None:
        return existing
    recharge_id = recharge_id_from_trade_no(event.out_trade_no)
    if recharge_id is not None:
        return _confirm_recharge_payment(session, provider_name=provider_name, event=event, recharge_id=recharge_id)
    order_id = order_id_from_trade_no(event.out_trade_no)
    order = order_queries.find_order(session, order_id=order_id) if order_id is not None else None
    if order is None:
        raise UnknownTrade(f"No order for out_trade_no {event.out_trade_no}.")
    payment = Payment(order_id=order.id, provider=provider_name, transaction_id=event.transaction_id,
                      amount=event.amount, status="applied", payload=event.raw)
    try:
        with session.begin_nested():  # the unique key is the "handled once" guarantee
            session.add(payment)
            session.flush()
    except IntegrityError:
        return session.exec(select(Payment).where(Payment.provider == provider_name,
                                                  Payment.transaction_id == event.transaction_id)).one()
    if event.amount != order.total:
        # Not what the order costs: the order stays unpaid and exactly what was paid goes back.
        log.error("payment %s for order %s: amount %s != total %s, refunding it", event.transaction_id, order.id,
                  event.amount, order.total)
        _give_back(session, payment=payment, status="amount_mismatch", reason="amount_mismatch")
        return payment
    result = order_transitions.mark_paid(session, order_id=order.id, paid_at=event.paid_at)
    if not result:
        # Money arrived for an order that cannot take it (expired, cancelled: "late"; refused by a
        # rule such as a full group: "refused"): record it and give it back, never raise.
        if result.reason == "not_payable":
            _give_back(session, payment=payment, status="late", reason="late_payment")
        else:
            _give_back(session, payment=payment, status="refused", reason=f"refused:{result.reason}")
    return payment


def _confirm_recharge_payment(session: Session, *, provider_name: str, event: PaymentEvent,
                              recharge_id: int) -> Payment:
    """A wallet recharge's money: recorded once per transaction like an order's, and credited to
    the wallet once; money the recharge cannot take (a wrong amount, a recharge paid already
    through another transaction) is recorded and refunded in full."""
    if wallet_recharges.find_recharge(session, recharge_id=recharge_id) is None:
        raise UnknownTrade(f"No recharge for out_trade_no {event.out_trade_no}.")
    payment = Payment(recharge_id=recharge_id, provider=provider_name, transaction_id=event.transaction_id,
                      amount=event.amount, status="applied", payload=event.raw)
    try:
        with session.begin_nested():
            session.add(payment)
            session.flush()
    except IntegrityError:
        return session.exec(select(Payment).where(Payment.provider == provider_name,
                                                  Payment.transaction_id == event.transaction_id)).one()
    refusal = wallet_recharges.recharge_paid(session, recharge_id=recharge_id, amount=event.amount, payment=payment)
    if refusal == "amount_mismatch":
        _give_back(session, payment=payment, status="amount_mismatch", reason="amount_mismatch")
    elif refusal:
        _give_back(session, payment=payment, status="late", reason="late_payment")
    return payment


def pay_from_wallet(session: Session, *, order: Order) -> Payment | None:
    """Pay a pending order from its buyer's wallet, in this transaction: one conditional UPDATE of
    the wallet (409 insufficient_balance), then the very path a provider's payment takes
    (confirm_payment → mark_paid). None if this order's wallet payment was made already (a racing
    twin); a payment the order can no longer take goes straight back to the wallet."""
    entry = wallet_service.spend(session, user_id=order.buyer_id, amount=order.total,
                                 kind=wallet_service.ORDER_PAYMENT, ref=f"order:{order.id}", order_id=order.id)
    if entry is None:
        return None
    return confirm_payment(session, provider_name=WALLET, event=PaymentEvent(
        out_trade_no=out_trade_no(order.id), transaction_id=f"wallet-{order.id}", amount=order.total,
        paid_at=utcnow(), raw={"principal": -entry.principal, "bonus": -entry.bonus, "entry_id": entry.id}))


def _give_back(session: Session, *, payment: Payment, status: str, reason: str) -> None:
    payment.status = status
    session.add(payment)
    session.flush()
    if payment.amount > 0:
        _create_refund(session, payment=payment, amount=payment.amount, reason=reason)


WALLET = "wallet"  # the provider name of an order paid from the buyer's wallet


def payment_for(session: Session, order_id: int, *, for_update: bool = False) -> Payment | None:
    q = select(Payment).where(Payment.order_id == order_id, Payment.status == "applied")
    if for_update:
        q = q.with_for_update()
    return session.exec(q).first()


def applied_payments(session: Session, *, order_ids: list[int]) -> dict[int, Payment]:
    """Each order's applied payment, for a set of orders in one query."""
    if not order_ids:
        return {}
    rows = session.exec(select(Payment).where(Payment.order_id.in_(order_ids), Payment.status == "applied")
                        .order_by(Payment.id))
    return {p.order_id: p for p in rows}


def _create_refund(session: Session, *, payment: Payment, amount: int, reason: str,
                   idempotency_ref: str | None = None) -> Refund:
    """The one place a Refund row is born: counted against its payment first, in one conditional
    UPDATE (concurrent refunds of a payment queue on its row, and their sum never passes what was
    paid), then handed to the refund job after commit. A refund of a wallet payment needs no
    provider: the money goes back into the wallet here, in this transaction, principal and bonus
    in the proportions they came out, and the refund is succeeded at once."""
    if idempotency_ref is not None:
        existing = _refund_by_ref(session, order_id=payment.order_id, idempotency_ref=idempotency_ref)
        if existing is not None:
            return existing
    now = utcnow()
    try:
        # A savepoint, so that losing the race for an idempotency_ref also undoes the count.
        with session.begin_nested():
            counted = session.exec(
                update(Payment)
                .where(Payment.id == payment.id, Payment.refunded_amount + amount <= Payment.amount)
                .values(refunded_amount=Payment.refunded_amount + amount)).rowcount
            if not counted:
                raise RefundExceedsPayment(
                    f"Refunding {amount} fen would give back more than payment {payment.id} took.",
                    order_id=payment.order_id)
            number = f"RF{payment.order_id:010d}" if payment.order_id is not None else f"RR{payment.recharge_id:010d}"
            refund = Refund(order_id=payment.order_id, recharge_id=payment.recharge_id, payment_id=payment.id,
                            out_refund_no=f"{number}{uuid.uuid4().hex[:12]}",
                            provider=payment.provider, transaction_id=payment.transaction_id, amount=amount,
                            total=payment.amount, reason=reason[:80], idempotency_ref=idempotency_ref,
                            created_at=now, updated_at=now)
            session.add(refund)
            session.flush()
            if payment.provider == WALLET:
                _back_to_wallet(session, payment=payment, refund=refund)
    except (IntegrityError, RefundExceedsPayment):
        # Waiting on the payment's row may have been waiting on the same idempotency_ref's first
        # refund: once that committed, it is the answer (whether or not this one would fit).
        existing = _refund_by_ref(session, order_id=payment.order_id, idempotency_ref=idempotency_ref) \
            if idempotency_ref is not None else None
        if existing is None:
            raise
        return existing
    if refund.status == R.pending.value:
        enqueue_refund(refund.id)
    return refund


def _back_to_wallet(session: Session, *, payment: Payment, refund: Refund) -> None:
    after = session.exec(select(Payment.refunded_amount).where(Payment.id == payment.id)
                         .execution_options(populate_existing=True)).one()
    principal, bonus = wallet_service.refund_parts(principal=int(payment.payload.get("principal", payment.amount)),
                                                   bonus=int(payment.payload.get("bonus", 0)),
                                                   before=after - refund.amount, after=after)
    buyer_id = order_queries.get_order(session, payment.order_id).buyer_id
    wallet_service.put_in(session, user_id=buyer_id, principal=principal, bonus=bonus,
                          kind=wallet_service.ORDER_REFUND, ref=f"refund:{refund.id}", order_id=payment.order_id)
    now = utcnow()
    refund.status, refund.completed_at, refund.updated_at = R.succeeded.value, now, now
    session.add(refund)
    session.flush()


def refund_recharge_payment(session: Session, *, recharge_id: int, amount: int, reason: str) -> Refund:
    """Give a recharge's payment back through its provider (the wallet domain took the money out
    of the wallet first, in this transaction)."""
    payment = session.exec(select(Payment).where(Payment.recharge_id == recharge_id, Payment.status == "applied")
                           .with_for_update()).first()
    if payment is None:
        raise NothingToRefund(f"Recharge {recharge_id} has no applied payment to refund.")
    return _create_refund(session, payment=payment, amount=amount, reason=reason)


def _refund_by_ref(session: Session, *, order_id: int, idempotency_ref: str) -> Refund | None:
    return session.exec(select(Refund).where(Refund.order_id == order_id,
                                             Refund.idempotency_ref == idempotency_ref)).first()


def refund_when_order_refunded(session: Session, order: Order) -> None:
    """Whoever refunds an order (the buyer's cancel, an operator, a failed group), the money of
    its applied payment goes back here; the order domain only calls mark_refunded."""
    refund_order(session, order=order, reason=order.cancel_reason or "refunded")


def refund_order(session: Session, *, order: Order, reason: str) -> Refund | None:
    """Give back what is left of an order's payment once the order has become refunded; the money
    moves in a job. What earlier partial refunds gave back is not given twice; None if nothing is
    left."""
    # Locked, so that a partial refund cannot slip in between reading what is left and taking it.
    payment = payment_for(session, order.id, for_update=True)
    if payment is None:
        raise NothingToRefund(f"Order {order.id} has no applied payment to refund.")
    session.refresh(payment)
    left = payment.amount - payment.refunded_amount
    if left <= 0:
        return None
    return _create_refund(session, payment=payment, amount=left, reason=reason)


def refund_amount(session: Session, *, order_id: int, amount: int, reason: str,
                  idempotency_ref: str | None = None) -> Refund:
    """Give back part of what an order's buyer paid (goods missing from a delivery, say), through
    the same durable path as a full refund. The order's status does not change. Call it as often
    as needed: the sum never exceeds what was paid (RefundExceedsPayment). The same
    idempotency_ref on the same order returns the first refund and gives nothing more."""
    if amount <= 0:
        raise Unprocessable(f"A refund is at least 1 fen, not {amount}.")
    if idempotency_ref is not None and not 1 <= len(idempotency_ref) <= 64:
        raise ValueError("idempotency_ref is 1..64 characters (the column's length)")
    payment = payment_for(session, order_id)
    if payment is None:
        raise NothingToRefund(f"Order {order_id} has no applied payment to refund.")
    return _create_refund(session, payment=payment, amount=amount, reason=reason, idempotency_ref=idempotency_ref)


# ---- moving a refund on ------------------------------------------------------------------------

def _move(session: Session, refund_id: int, to: RefundStatus, from_: tuple[RefundStatus, ...], **values) -> bool:
    """One conditional UPDATE: a refund changes state only from the states named, so whoever
    writes second (a job that waited on WeChat, a duplicate notification) changes nothing."""
    n = session.exec(update(Refund).where(Refund.id == refund_id, Refund.status.in_([s.value for s in from_]))
                     .values(status=to.value, updated_at=utcnow(), **values)).rowcount
    return bool(n)


def apply_result(session: Session, refund: Refund, result: RefundResult, *, asked: RefundStatus) -> None:
    """What a provider's answer (to a refund request made while `asked`, or to a query) means."""
    if result.status == "succeeded":
        # The money reached the buyer: true whatever we thought of the refund before.
        _move(session, refund.id, R.succeeded, (R.pending, R.processing, R.failed), completed_at=utcnow(),
              error=None)
    elif result.status == "processing":
        _move(session, refund.id, R.processing, (R.pending,), error=None)
    elif result.status == "failed":
        log.error("refund %s failed at %s: %s", refund.out_refund_no, refund.provider, result.detail)
        _move(session, refund.id, R.failed, (R.pending, R.processing), error=result.detail[:500])
    elif result.status == "not_found":
        # Accepted by nobody after all: ask again.
        _move(session, refund.id, R.pending, (R.processing,), error=result.detail[:500] or "unknown to provider")
    elif asked == R.pending and refund.attempts >= MAX_REFUND_ATTEMPTS:
        log.error("refund %s gave up after %d attempts: %s", refund.out_refund_no, refund.attempts, result.detail)
        _move(session, refund.id, R.failed, (R.pending,), error=result.detail[:500])
    else:  # retry: no state change, only what went wrong
        session.exec(update(Refund).where(Refund.id == refund.id, Refund.status == asked.value)
                     .values(error=result.detail[:500] or "provider unavailable", updated_at=utcnow()))


def refunds_to_redrive(session: Session, *, now: datetime, older_than: timedelta,
                       limit: int = 500) -> tuple[list[int], list[int]]:
    """(pending ids to hand to the job again, processing ids to ask the provider about)."""
    cutoff = now - older_than

    def stale(status: RefundStatus) -> list[int]:
        return list(session.exec(select(Refund.id).where(Refund.status == status.value, Refund.updated_at <= cutoff)
                                 .order_by(Refund.id).limit(limit)))
    return stale(R.pending), stale(R.processing)


def enqueue_refund(refund_id: int) -> None:
    enqueue("app.payment.jobs.refund_job", refund_id, job_id=f"refund-{refund_id}")


def confirm_refund(session: Session, *, provider_name: str, event: RefundEvent) -> Refund | None:
    """A provider's word that a refund finished; applying it again (or after the job's own
    answer, or racing it) changes nothing."""
    refund = session.exec(select(Refund).where(Refund.out_refund_no == event.out_refund_no,
                                               Refund.provider == provider_name)).first()
    if refund is None:
        log.warning("refund notification for unknown out_refund_no %s", event.out_refund_no)
        return None
    if event.succeeded:
        _move(session, refund.id, R.succeeded, (R.pending, R.processing, R.failed),
              completed_at=event.at or utcnow(), error=None)
    elif event.status == "PROCESSING":
        _move(session, refund.id, R.processing, (R.pending,))
    elif _move(session, refund.id, R.failed, (R.pending, R.processing), error=f"provider reported {event.status}"):
        # CLOSED / ABNORMAL: the money did not reach the buyer; an operator must act.
        log.error("refund %s ended %s at the provider", refund.out_refund_no, event.status)
    session.refresh(refund)
    return refund


# ---- operators ---------------------------------------------------------------------------------

def list_refunds(session: Session, *, status: str | None, before_id: int | None, limit: int) -> list[Refund]:
    q = select(Refund).order_by(Refund.id.desc()).limit(limit + 1)
    if status:
        q = q.where(Refund.status == status)
    if before_id:
        q = q.where(Refund.id < before_id)
    return list(session.exec(q))


def retry_refund(session: Session, *, refund_id: int) -> Refund:
    """failed → pending, with a fresh budget of attempts; the job is enqueued after commit. The
    out_refund_no stays: if the provider did take the first request, asking again is harmless."""
    if not _move(session, refund_id, R.pending, (R.failed,), attempts=0):
        refund = get_or_raise(session, Refund, refund_id, RefundNotFound(f"Refund {refund_id} does not exist."))
        raise InvalidState(f"Refund {refund_id} is {refund.status}; only a failed refund can be retried.",
                           status_now=refund.status)
    enqueue_refund(refund_id)
    refund = session.get(Refund, refund_id)
    session.refresh(refund)
    return refund



def refunds_by_status(session: Session) -> dict[str, tuple[int, datetime | None]]:
    """For GET /metrics: each status's refunds and the oldest one's last change (its age says
    whether pending refunds are stuck)."""
    rows = session.exec(select(Refund.status, func.count(), func.min(Refund.updated_at)).group_by(Refund.status))
    return {status: (n, oldest) for status, n, oldest in rows}


# ---- what reconciliation checks WeChat Pay's bills against -------------------------------------
# Plain rows (transaction_id, order_id, amount / out_refund_no, amount), not ORM objects: a day can
# hold tens of thousands. Lookups by key go in chunks (SQLite binds at most 32,766 values).

_CHUNK = 1000


def _paid_at(payload: dict[str, Any] | None, created_at: datetime) -> datetime:
    """When WeChat Pay says the money came (the notification's success_time: the trade bill's
    day), else when we recorded it."""
    try:
        return datetime.fromisoformat(payload["success_time"])
    except (KeyError, TypeError, ValueError):
        return created_at


def wechatpay_payments_between(session: Session, *, start: datetime, end: datetime) -> list[Any]:
    """Every WeChat Pay payment (whatever became of it: applied, late, refused...) whose money
    came in [start, end)."""
    rows = session.exec(select(Payment.transaction_id, Payment.order_id, Payment.amount, Payment.payload,
                               Payment.created_at)
                        .where(Payment.provider == "wechatpay", Payment.created_at >= start - timedelta(days=2),
                               Payment.created_at < end + timedelta(days=2)))
    return [r for r in rows if start <= _paid_at(r.payload, r.created_at) < end]


def wechatpay_payments_by_transaction(session: Session, transaction_ids: list[str]) -> dict[str, Any]:
    out = {}
    for i in range(0, len(transaction_ids), _CHUNK):
        out.update({r.transaction_id: r for r in session.exec(
            select(Payment.transaction_id, Payment.order_id, Payment.amount)
            .where(Payment.provider == "wechatpay", Payment.transaction_id.in_(transaction_ids[i:i + _CHUNK])))})
    return out


def wechatpay_refunds_between(session: Session, *, start: datetime, end: datetime) -> list[Any]:
    """WeChat Pay refunds created in [start, end) that WeChat Pay accepted (processing or
    succeeded): the trade bill lists a refund on the day it was accepted."""
    return list(session.exec(select(Refund.out_refund_no, Refund.amount).where(
        Refund.provider == "wechatpay", Refund.created_at >= start, Refund.created_at < end,
        Refund.status.in_([R.processing.value, R.succeeded.value]))))


def wechatpay_refunds_by_number(session: Session, out_refund_nos: list[str]) -> dict[str, Any]:
    out = {}
    for i in range(0, len(out_refund_nos), _CHUNK):
        out.update({r.out_refund_no: r for r in session.exec(
            select(Refund.out_refund_no, Refund.amount)
            .where(Refund.provider == "wechatpay", Refund.out_refund_no.in_(out_refund_nos[i:i + _CHUNK])))})
    return out
