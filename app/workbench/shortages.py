"""Shortages (团长签收): the leader reports units missing from a delivery to their point, and those
units are refunded across the day's orders there, latest paid first, as partial refunds.

A report names, per SKU, the TOTAL missing so far; what is recorded only grows, by a conditional
UPDATE from the value last seen, so a report refunds exactly what it adds: the same report twice
refunds nothing more, a higher figure later refunds the difference, and two reports at once never
refund the same units. (Its own module, not leader.service: it drives orders and payments, which
themselves depend on leader.service.)"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.db import utcnow
from app.order import queries as order_queries
from app.order import rules as order_rules
from app.order import unit_refunds
from app.order.models import Order
from app.payment import unit_refunds as payment_units
from app.workbench.errors import ShortageBusy, ShortageExceedsDelivery
from app.workbench.models import DeliveryShortage

T = DeliveryShortage.__table__
CAS_ATTEMPTS = 20


@dataclass
class ShortageRefund:
    order: Order
    amount: int
    units: list[unit_refunds.UnitTake]


def _key(delivery_date: date, pickup_point_id: int, sku_id: int):
    return (T.c.delivery_date == delivery_date, T.c.pickup_point_id == pickup_point_id, T.c.sku_id == sku_id)


def _raise_recorded(session: Session, *, delivery_date: date, pickup_point_id: int, sku_id: int, total: int) -> int:
    """Move the recorded total up to `total` and answer what it was before (>= total: nothing moved).
    Compare-and-set from the value seen: of two reports racing, the second's UPDATE matches nothing
    once the first committed, and it reads the new value and counts only what is left to add."""
    ins = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(T)
    session.execute(ins.values(delivery_date=delivery_date, pickup_point_id=pickup_point_id, sku_id=sku_id,
                               missing_qty=0, updated_at=utcnow()).on_conflict_do_nothing())
    for _ in range(CAS_ATTEMPTS):
        seen = session.execute(select(T.c.missing_qty).where(*_key(delivery_date, pickup_point_id, sku_id))).scalar_one()
        if seen >= total:
            return seen
        moved = session.execute(update(T).where(*_key(delivery_date, pickup_point_id, sku_id), T.c.missing_qty == seen)
                                .values(missing_qty=total, updated_at=utcnow())).rowcount
        if moved:
            return seen
    raise ShortageBusy("Other shortage reports for this SKU keep landing; try again.", sku_id=sku_id)


def report_shortage(session: Session, *, pickup_point_id: int, delivery_date: date,
                    missing: dict[int, int]) -> list[ShortageRefund]:
    """Record the totals missing per SKU and refund what they add, across the date's shipped and
    arrived orders at the point (latest paid first; an order is refunded unit_price × units, and
    one with no unit left becomes refunded). Raises ShortageExceedsDelivery, refunding nothing,
    when a total passes what was shipped, or the units to refund are no longer at the point
    (already handed out)."""
    wanted = {sku: qty for sku, qty in missing.items() if qty > 0}
    if not wanted:
        return []
    # Locked first, in one order for every caller: the reports of one point and date queue here.
    orders = order_queries.lock_orders_at_point(session, pickup_point_id=pickup_point_id, delivery_date=delivery_date)
    shipped = order_queries.shipped_units(session, pickup_point_id=pickup_point_id, delivery_date=delivery_date,
                                          sku_ids=sorted(wanted))
    over = [{"sku_id": sku, "missing_qty": qty, "shipped_qty": shipped.get(sku, 0)}
            for sku, qty in sorted(wanted.items()) if qty > shipped.get(sku, 0)]
    if over:
        raise ShortageExceedsDelivery(
            "More units reported missing than were shipped to this point for the date: "
            + ", ".join(f"SKU {o['sku_id']}: {o['missing_qty']} > {o['shipped_qty']}" for o in over) + ".",
            lines=over)

    ranges: dict[int, tuple[int, int]] = {}
    for sku in sorted(wanted):  # (one order for every caller, so the rows' locks never deadlock)
        before = _raise_recorded(session, delivery_date=delivery_date, pickup_point_id=pickup_point_id,
                                 sku_id=sku, total=wanted[sku])
        if before < wanted[sku]:
            ranges[sku] = (before, wanted[sku])
    if not ranges:
        return []

    plan, unplaced = unit_refunds.plan_unit_refunds(
        session, orders=orders, units_by_sku={sku: new - old for sku, (old, new) in ranges.items()})
    if unplaced:
        lines = [{"sku_id": sku, "missing_qty": wanted[sku], "shipped_qty": shipped.get(sku, 0),
                  "not_at_point": n} for sku, n in sorted(unplaced.items())]
        raise ShortageExceedsDelivery(
            "Some of the units reported missing were already handed out or refunded: "
            + ", ".join(f"SKU {x['sku_id']}: {x['not_at_point']} unit(s)" for x in lines) + ".", lines=lines)

    # The same units of the same report always carry the same name: a refund created twice for
    # them (a retried transaction) is the first one (refund_amount's idempotency_ref).
    report = f"{delivery_date}|{pickup_point_id}|" + ";".join(f"{s}:{a}-{b}" for s, (a, b) in sorted(ranges.items()))
    ref = "shortage-" + hashlib.sha256(report.encode()).hexdigest()[:40]
    refunds = []
    for order in orders:
        takes = plan.get(order.id)
        if not takes:
            continue
        done = payment_units.refund_order_units(session, order_id=order.id, takes=takes, reason="shortage",
                                                idempotency_ref=ref, allowed_from=order_rules.AT_POINT)
        order, amount = done.order, done.amount
        refunds.append(ShortageRefund(order=order, amount=amount, units=takes))
    return refunds
