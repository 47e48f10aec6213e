"""Payment use cases that own their transactions: the provider (WeChat Pay) is called between
them, never inside one, so a slow gateway holds no database lock. The bookkeeping they apply lives
in app/payment/service.py (session in, no commit)."""
from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import update

from app.auth import service as auth_service
from app.db import reading, transaction, utcnow
from app.errors import InvalidState
from app.order import queries as order_queries
from app.order import transitions as order_transitions
from app.order.errors import PaymentExpired
from app.order.models import Order, OrderStatus
from app.payment import service as payment_service
from app.payment.gateways import make_provider
from app.payment.models import Refund, RefundStatus
from app.payment.providers import PaymentEvent, PaymentProvider, out_trade_no, trade_no_of

R = RefundStatus


def provider() -> PaymentProvider:
    return current_app.extensions["linli.payment_provider"]


def provider_named(name: str) -> PaymentProvider:
    """A refund goes back through the provider that took the money, whatever is configured now."""
    p = provider()
    if p.name == name:
        return p
    return make_provider(current_app.extensions["linli.settings"].model_copy(update={"payment_provider": name}))


def start_payment(*, order_id: int, buyer_id: int, method: str = "wechatpay") -> tuple[Order, dict[str, Any], str]:
    """Pay an order; answers the order, the client's parameters and the provider's name. This use
    case owns its transactions: the provider is called between them, so a slow payment gateway
    never holds SQLite's write lock or a PostgreSQL transaction open. method "wallet" pays at once
    from the buyer's wallet, in one transaction (no provider to call)."""
    if method == payment_service.WALLET:
        return _pay_from_wallet(order_id=order_id, buyer_id=buyer_id)
    with transaction() as s:
        order = order_queries.get_buyer_order(s, order_id=order_id, buyer_id=buyer_id)
        payable = order_transitions.ensure_payable(s, order)
        openid = auth_service.openid_of(s, user_id=buyer_id)
    if not payable:
        # Found past pay_before: cancelled by the transaction above (committed), then refused.
        raise PaymentExpired(f"Order {order.id} was not paid in time and is cancelled.")
    p = provider()
    params = p.prepay(out_trade_no=out_trade_no(order.id), amount=order.total,
                      description=f"linli order {order.id}", payer_openid=openid, expires_at=order.pay_before)
    if p.name == "sandbox":
        # The sandbox "notifies" at once, through the very path a real notification takes. Like
        # WeChat Pay, it pays an out_trade_no at most once: one transaction id per order, so
        # concurrent /pay calls replay one payment (the payments unique key) instead of each
        # paying, and all but one being refunded as late.
        with transaction() as s:
            payment_service.confirm_payment(s, provider_name="sandbox", event=PaymentEvent(
                out_trade_no=out_trade_no(order.id), transaction_id=f"sandbox-{order.id}",
                amount=order.total, paid_at=utcnow()))
    with reading() as s:
        order = order_queries.get_order(s, order_id)
    # Cancelled (or expired) while the provider was asked: the buyer must not be told to pay,
    # nor that a cancelled order was paid (a sandbox payment that landed late is refunded).
    if order.status not in (OrderStatus.pending_payment.value, OrderStatus.paid.value):
        raise InvalidState(f"Order {order.id} is {order.status}, it can no longer be paid.", status_now=order.status)
    return order, params, p.name


def _pay_from_wallet(*, order_id: int, buyer_id: int) -> tuple[Order, dict[str, Any], str]:
    with transaction() as s:
        order = order_queries.get_buyer_order(s, order_id=order_id, buyer_id=buyer_id)
        if order.status == OrderStatus.paid.value:
            paid = payment_service.payment_for(s, order.id)
            if paid is not None and paid.provider == payment_service.WALLET:
                return order, {"paid": True}, payment_service.WALLET  # a repeated call: paid once, said again
        payable = order_transitions.ensure_payable(s, order)
        payment = payment_service.pay_from_wallet(s, order=order) if payable else None
    if not payable:
        raise PaymentExpired(f"Order {order.id} was not paid in time and is cancelled.")
    with reading() as s:
        order = order_queries.get_order(s, order_id)
    if order.status != OrderStatus.paid.value or (payment is not None and payment.status != "applied"):
        # The order could not take the payment (a full group, or paid meanwhile through WeChat Pay):
        # the money is back in the wallet already.
        raise InvalidState(f"Order {order.id} is {order.status}, it can no longer be paid.", status_now=order.status)
    return order, {"paid": True}, payment_service.WALLET


def execute_refund(*, refund_id: int) -> Refund | None:
    """Ask the provider to move a pending refund's money. Owns its transactions: the refund is
    read (and the attempt counted) in one, the provider is called outside any, and the answer is
    written in another, conditionally. Safe to run again (out_refund_no is the provider's
    idempotency key; a refund no longer pending is left alone)."""
    with transaction() as s:
        claimed = s.exec(update(Refund).where(Refund.id == refund_id, Refund.status == R.pending.value)
                         .values(attempts=Refund.attempts + 1, updated_at=utcnow())).rowcount
        refund = s.get(Refund, refund_id)
    if refund is None or not claimed:
        return refund
    result = provider_named(refund.provider).refund(
        out_trade_no=trade_no_of(refund), transaction_id=refund.transaction_id,
        out_refund_no=refund.out_refund_no, amount=refund.amount, total=refund.total, reason=refund.reason)
    with transaction() as s:
        payment_service.apply_result(s, refund, result, asked=R.pending)
        return s.get(Refund, refund_id)


def check_refund(*, refund_id: int) -> Refund | None:
    """Ask the provider where a processing refund has got to (its notification may never come),
    outside any transaction, and apply the answer like a notification."""
    with transaction() as s:
        refund = s.get(Refund, refund_id)
        if refund is None or refund.status != R.processing.value:
            return refund
        # Touched now, so that the next sweep waits REDRIVE_AFTER again before asking.
        s.exec(update(Refund).where(Refund.id == refund_id).values(updated_at=utcnow()))
    result = provider_named(refund.provider).query_refund(out_refund_no=refund.out_refund_no)
    with transaction() as s:
        payment_service.apply_result(s, refund, result, asked=R.processing)
        refund = s.get(Refund, refund_id)
    if refund.status == R.pending.value:
        payment_service.enqueue_refund(refund.id)
    return refund


def redrive_refund(*, refund_id: int) -> bool:
    """Hand a pending refund to the job again; touched, so the next sweep leaves it to that job."""
    with transaction() as s:
        touched = s.exec(update(Refund).where(Refund.id == refund_id, Refund.status == R.pending.value)
                         .values(updated_at=utcnow())).rowcount
        if touched:
            payment_service.enqueue_refund(refund_id)
    return bool(touched)
