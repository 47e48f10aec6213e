"""The ONE way units of an order are given back, whoever asks: a shortage at the point, an
after-sales request approved, an operator's refund by line. The order's row is locked first, so
two of them on one order take turns; each item's refunded_qty only grows by a conditional UPDATE
that keeps it <= qty, and the payment's refunded_amount by one that keeps it <= what was paid:
whatever races, an item never gives back more than it had, nor an order more than was paid.
The money goes through payment_service (durable, retried like every refund), the points part
back in proportion, the leader's commission rebased (or reversed when nothing is left)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from app.commission import service as commission_service
from app.errors import InvalidState
from app.order import queries as order_queries
from app.order import transitions as order_transitions
from app.order import unit_refunds
from app.order.errors import UnitsAlreadyRefunded
from app.order.models import Order, OrderStatus
from app.payment import service as payment_service

S = OrderStatus
# Where units can be given back from: goods paid for, on their way, at the point or handed out.
AFTER_PAYMENT = (S.paid, S.shipped, S.arrived, S.picked_up)


@dataclass
class UnitRefund:
    order: Order
    amount: int  # money given back (fen); the points part went back as points
    units: list[unit_refunds.UnitTake]
    emptied: bool


def take_lines(session: Session, *, order: Order, lines: dict[int, int], clamp: bool = False
               ) -> list[unit_refunds.UnitTake]:
    """Units per SKU of one order as takes from its items. More than is left of a SKU raises
    UnitsAlreadyRefunded, or with clamp=True takes only what is left."""
    plan, unplaced = unit_refunds.plan_unit_refunds(session, orders=[order], units_by_sku=lines)
    if unplaced and not clamp:
        sku, n = sorted(unplaced.items())[0]
        raise UnitsAlreadyRefunded(f"Order {order.id} has {n} unit(s) fewer of SKU {sku} left than asked.",
                                   order_id=order.id, sku_id=sku)
    return plan.get(order.id, [])


def refund_order_units(session: Session, *, order_id: int, takes: list[unit_refunds.UnitTake] | None = None,
                       lines: dict[int, int] | None = None, reason: str, idempotency_ref: str | None = None,
                       allowed_from: tuple[S, ...] = AFTER_PAYMENT, clamp: bool = False) -> UnitRefund:
    """Give back units of one order (`takes` already planned, or `lines`: units per SKU) and
    answer what went back. The order becomes refunded (its hooks reverse the commission and
    give back what is left of the payment: nothing by then) once it has no unit left."""
    order = order_queries.lock_order(session, order_id)
    if order.status not in {s.value for s in allowed_from}:
        raise InvalidState(f"Units of an order that is {order.status} cannot be refunded.", status_now=order.status)
    if takes is None:
        takes = take_lines(session, order=order, lines=lines or {}, clamp=clamp)
    if not takes:
        return UnitRefund(order=order, amount=0, units=[], emptied=False)
    amount, emptied = unit_refunds.refund_units(session, order_id=order.id, takes=takes)
    if amount:  # 0 when the units' worth came back as points alone (an order paid partly in points)
        payment_service.refund_amount(session, order_id=order.id, amount=amount, reason=reason,
                                      idempotency_ref=idempotency_ref)
    if emptied:
        order = order_transitions.mark_refunded(session, order_id=order.id, allowed_from=allowed_from,
                                                reason=reason)
    else:
        commission_service.rebase(session, order_id=order.id, base=order_queries.commission_base(session, order))
    return UnitRefund(order=order, amount=amount, units=takes, emptied=emptied)
