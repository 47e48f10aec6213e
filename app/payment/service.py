"""Money in and out. Every successful payment, whatever the provider, goes through
confirm_payment; every refund through refund_order and the refund job."""
from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.db import reading, transaction, utcnow
from app.errors import Conflict, InvalidState
from app.order import service as order_service
from app.order.models import Order, OrderStatus
from app.payment.models import Payment, Refund
from app.payment.providers import (PaymentEvent, PaymentProvider, RefundEvent, order_id_from_trade_no,
                                   out_trade_no)

log = logging.getLogger(__name__)


class AmountMismatch(Conflict):
    status, code = 400, "amount_mismatch"


class UnknownTrade(Conflict):
    status, code = 400, "unknown_trade"


def provider() -> PaymentProvider:
    return current_app.extensions["linli.payment_provider"]


def start_payment(*, order_id: int, buyer_id: int) -> tuple[Order, dict[str, Any]]:
    """Pay an order. This use case owns its transactions: the provider is called between them,
    so a slow payment gateway never holds SQLite's write lock or a PostgreSQL transaction open."""
    with transaction() as s:
        order = order_service.get_buyer_order(s, order_id=order_id, buyer_id=buyer_id)
        order_service.ensure_payable(s, order)
        openid = auth_service.openid_of(s, user_id=buyer_id)
    p = provider()
    params = p.prepay(out_trade_no=out_trade_no(order.id), amount=order.total,
                      description=f"linli order {order.id}", payer_openid=openid, expires_at=order.pay_before)
    if p.name == "sandbox":
        # The sandbox "notifies" at once, through the very path a real notification takes. Like
        # WeChat Pay, it pays an out_trade_no at most once: one transaction id per order, so
        # concurrent /pay calls replay one payment (the payments unique key) instead of each
        # paying, and all but one being refunded as late.
        with transaction() as s:
            confirm_payment(s, provider_name="sandbox", event=PaymentEvent(
                out_trade_no=out_trade_no(order.id), transaction_id=f"sandbox-{order.id}",
                amount=order.total, paid_at=utcnow()))
    with reading() as s:
        order = order_service.get_order(s, order_id)
    # Cancelled (or expired) while the provider was asked: the buyer must not be told to pay,
    # nor that a cancelled order was paid (a sandbox payment that landed late is refunded).
    if order.status not in (OrderStatus.pending_payment.value, OrderStatus.paid.value):
        raise InvalidState(f"Order {order.id} is {order.status}, it can no longer be paid.", status_now=order.status)
    return order, params


def confirm_payment(session: Session, *, provider_name: str, event: PaymentEvent) -> Payment:
    """Apply a verified payment exactly once per provider transaction.

    Returns the Payment row (the existing one on a replay); a payment whose amount is not the
    order's total is recorded once with status "amount_mismatch" and not applied (the caller
    decides how to answer). Raises UnknownTrade when no order matches.
    """
    existing = session.exec(select(Payment).where(Payment.provider == provider_name,
                                                  Payment.transaction_id == event.transaction_id)).first()
    if existing is not None:
        return existing
    order_id = order_id_from_trade_no(event.out_trade_no)
    order = session.get(Order, order_id) if order_id is not None else None
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
        payment.status = "amount_mismatch"
        session.add(payment)
        log.error("payment %s for order %s: amount %s != total %s", event.transaction_id, order.id,
                  event.amount, order.total)
        return payment
    result = order_service.mark_paid(session, order_id=order.id, paid_at=event.paid_at)
    if not result:
        # Money arrived for an order that cannot take it (expired, cancelled: "late"; refused by a
        # rule such as a full group: "refused"): record it and give it back, never raise.
        late = result.reason == "not_payable"
        payment.status = "late" if late else "refused"
        session.add(payment)
        _create_refund(session, order=order, transaction_id=event.transaction_id, amount=event.amount,
                       reason="late_payment" if late else f"refused:{result.reason}"[:80],
                       provider_name=provider_name)
    return payment


def payment_for(session: Session, order_id: int) -> Payment | None:
    return session.exec(select(Payment).where(Payment.order_id == order_id, Payment.status == "applied")).first()


def _create_refund(session: Session, *, order: Order, transaction_id: str | None, amount: int, reason: str,
                   provider_name: str) -> Refund:
    from app.payment.jobs import refund_job
    from app.queue import enqueue

    refund = Refund(order_id=order.id, out_refund_no=f"RF{order.id:010d}{uuid.uuid4().hex[:12]}",
                    provider=provider_name, transaction_id=transaction_id, amount=amount, total=amount,
                    reason=reason)
    session.add(refund)
    session.flush()
    enqueue(refund_job, refund.id, job_id=f"refund-{refund.id}")
    return refund


@order_service.on("refunded", order_service.ALL_SOURCES)
def _refund_when_order_refunded(session: Session, order: Order) -> None:
    """Whoever refunds an order (the buyer's cancel, an operator, a failed group), the money of
    its applied payment goes back here; the order domain only calls mark_refunded."""
    refund_order(session, order=order, reason=order.cancel_reason or "refunded")


def refund_order(session: Session, *, order: Order, reason: str) -> Refund:
    """Refund an order that has just become refunded in full; the money moves in a job."""
    payment = payment_for(session, order.id)
    if payment is None:
        raise InvalidState(f"Order {order.id} has no applied payment to refund.")
    return _create_refund(session, order=order, transaction_id=payment.transaction_id, amount=payment.amount,
                          reason=reason, provider_name=payment.provider)


def execute_refund(session: Session, *, refund_id: int) -> Refund | None:
    """Ask the provider to move the money; safe to run again (out_refund_no is the provider's
    idempotency key, and a finished refund is left alone)."""
    refund = session.get(Refund, refund_id)
    if refund is None or refund.status == "succeeded":
        return refund
    from app.payment.providers import make_provider

    # The refund goes back through the provider that took the money, whatever is configured now.
    p = provider() if provider().name == refund.provider else make_provider(
        current_app.extensions["linli.settings"].model_copy(update={"payment_provider": refund.provider}))
    result = p.refund(out_trade_no=out_trade_no(refund.order_id), transaction_id=refund.transaction_id,
                      out_refund_no=refund.out_refund_no, amount=refund.amount, total=refund.total,
                      reason=refund.reason)
    if result.ok:
        refund.status = "succeeded" if result.status == "succeeded" else "processing"
        refund.completed_at = utcnow() if result.status == "succeeded" else None
        refund.error = None
    else:
        refund.error = result.detail[:500]
    session.add(refund)
    session.flush()
    return refund


def confirm_refund(session: Session, *, provider_name: str, event: RefundEvent) -> Refund | None:
    """A provider's word that a refund finished; applying it again changes nothing."""
    refund = session.exec(select(Refund).where(Refund.out_refund_no == event.out_refund_no,
                                               Refund.provider == provider_name)).first()
    if refund is None:
        log.warning("refund notification for unknown out_refund_no %s", event.out_refund_no)
        return None
    if refund.status in ("succeeded", "failed"):
        return refund
    if event.succeeded:
        refund.status, refund.completed_at, refund.error = "succeeded", event.at or utcnow(), None
    else:
        # CLOSED / ABNORMAL: the money did not reach the buyer; an operator must act.
        refund.status, refund.error = "failed", f"provider reported {event.status}"
        log.error("refund %s ended %s at the provider", refund.out_refund_no, event.status)
    session.add(refund)
    session.flush()
    return refund
