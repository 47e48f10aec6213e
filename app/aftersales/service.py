"""After-sales requests: asking, deciding, the log, the SLA sweep. Session in, never commits;
settings passed in. Money goes back through payment.unit_refunds, the one path that gives back
units of an order (shortages and operators' refunds by line take it too)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.aftersales.errors import (AfterSaleItemsInvalid, AfterSaleNotDecidable, AfterSaleNotFound, AfterSaleOpen,
                                   AfterSaleWindowClosed, UnknownAfterSaleReason)
from app.aftersales.models import OPEN, AfterSale, AfterSaleItem, AfterSaleLog, AfterSaleStatus
from app.config import Settings
from app.db import utcnow
from app.errors import InvalidState
from app.notify import service as notify_service
from app.order import queries as order_queries
from app.order.models import OrderStatus
from app.order.rules import money_part
from app.pagination import keyset
from app.payment import unit_refunds as payment_units

A = AfterSaleStatus
# Orders whose goods reached the buyer's point: what after-sales is for.
REQUESTABLE = (OrderStatus.arrived, OrderStatus.picked_up)
TITLES = {"requested": "售后申请已提交", "approved": "售后已同意", "refunded": "售后退款已发起",
          "rejected": "售后申请被拒绝", "escalated": "售后已转平台处理"}


def _log(session: Session, after_sale_id: int, *, actor: str, action: str, note: str | None = None) -> None:
    session.add(AfterSaleLog(after_sale_id=after_sale_id, actor=actor, action=action, note=note, at=utcnow()))


def _tell_buyer(session: Session, a: AfterSale, action: str, note: str | None = None) -> None:
    notify_service.notify(session, user_id=a.buyer_id, event=f"after_sale.{action}",
                          data={"after_sale_id": a.id, "order_id": a.order_id, "status": a.status,
                                "amount": a.amount, "refunded_amount": a.refunded_amount, "note": note},
                          title=TITLES.get(action, "售后进度"), body=note or "")


def request_after_sale(session: Session, *, settings: Settings, buyer_id: int, order_id: int,
                       items: list[tuple[int, int]], reason: str, description: str | None,
                       images: list[str]) -> AfterSale:
    if reason not in settings.after_sale_reasons:
        raise UnknownAfterSaleReason(f"Reason {reason!r} is not one of {settings.after_sale_reasons}.",
                                     reasons=settings.after_sale_reasons)
    order = order_queries.get_buyer_order(session, order_id=order_id, buyer_id=buyer_id)
    if order.status not in {s.value for s in REQUESTABLE}:
        raise InvalidState(f"An order that is {order.status} has no after-sales.", status_now=order.status)
    arrived = order.arrived_at or order.picked_up_at
    if arrived is None or utcnow() > arrived + timedelta(hours=settings.after_sale_window_h):
        raise AfterSaleWindowClosed(f"After-sales closes {settings.after_sale_window_h} h after arrival.",
                                    window_h=settings.after_sale_window_h)
    by_sku = {it.sku_id: it for it in order_queries.items_of(session, [order.id])[order.id]}
    wanted: dict[int, int] = {}
    for sku_id, qty in items:
        wanted[sku_id] = wanted.get(sku_id, 0) + qty
    bad = [{"sku_id": sku, "qty": q, "left": (by_sku[sku].qty - by_sku[sku].refunded_qty) if sku in by_sku else 0}
           for sku, q in sorted(wanted.items()) if sku not in by_sku or q > by_sku[sku].qty - by_sku[sku].refunded_qty]
    if bad:
        raise AfterSaleItemsInvalid("Some items are not in the order or have fewer units left (not refunded): "
                                    + ", ".join(f"SKU {b['sku_id']}: {b['qty']} > {b['left']}" for b in bad) + ".",
                                    lines=bad)
    before = order_queries.refunded_goods_value(session, order_id=order.id)
    value = sum(by_sku[sku].unit_price * q for sku, q in wanted.items())
    amount = money_part(order, before + value) - money_part(order, before)
    a = AfterSale(order_id=order.id, buyer_id=buyer_id, pickup_point_id=order.pickup_point_id,
                  leader_id=order.leader_id, reason=reason, description=description, images=list(images),
                  amount=amount, created_at=utcnow(), updated_at=utcnow())
    try:
        with session.begin_nested():
            session.add(a)
            session.flush()
    except IntegrityError:
        raise AfterSaleOpen(f"Order {order.id} already has an after-sales request being handled.",
                            order_id=order.id) from None
    for sku, q in sorted(wanted.items()):
        it = by_sku[sku]
        session.add(AfterSaleItem(after_sale_id=a.id, order_item_id=it.id, sku_id=sku, qty=q, unit_price=it.unit_price,
                                  name=f"{it.product_name} {it.sku_name}".strip()))
    _log(session, a.id, actor=f"buyer:{buyer_id}", action="requested", note=description)
    session.flush()
    _tell_buyer(session, a, "requested")
    return a


def get(session: Session, after_sale_id: int) -> AfterSale:
    a = session.get(AfterSale, after_sale_id)
    if a is None:
        raise AfterSaleNotFound(f"After-sales request {after_sale_id} does not exist.")
    return a


def get_visible(session: Session, after_sale_id: int, *, user_id: int, leader_point_id: int | None,
                is_admin: bool) -> AfterSale:
    """To its buyer, its point's leader and operators; anyone else is told it does not exist."""
    a = get(session, after_sale_id)
    if is_admin or a.buyer_id == user_id or (leader_point_id is not None and a.pickup_point_id == leader_point_id):
        return a
    raise AfterSaleNotFound(f"After-sales request {after_sale_id} does not exist.")


def items_and_log(session: Session, after_sale_ids: list[int]):
    items: dict[int, list[AfterSaleItem]] = {i: [] for i in after_sale_ids}
    log: dict[int, list[AfterSaleLog]] = {i: [] for i in after_sale_ids}
    if after_sale_ids:
        for it in session.exec(select(AfterSaleItem).where(AfterSaleItem.after_sale_id.in_(after_sale_ids))
                               .order_by(AfterSaleItem.id)):
            items[it.after_sale_id].append(it)
        for e in session.exec(select(AfterSaleLog).where(AfterSaleLog.after_sale_id.in_(after_sale_ids))
                              .order_by(AfterSaleLog.id)):
            log[e.after_sale_id].append(e)
    return items, log


def list_after_sales(session: Session, *, buyer_id: int | None = None, pickup_point_id: int | None = None,
                     status: str | None, before_id: int | None, limit: int) -> list[AfterSale]:
    q = select(AfterSale)
    if buyer_id is not None:
        q = q.where(AfterSale.buyer_id == buyer_id)
    if pickup_point_id is not None:
        q = q.where(AfterSale.pickup_point_id == pickup_point_id)
    if status:
        q = q.where(AfterSale.status == status)
    return list(session.exec(keyset(q, AfterSale.id, before_id, limit)))


def _move(session: Session, a: AfterSale, *, from_: tuple[str, ...], to: str, **values) -> None:
    """Compare-and-set on the request's status: of two decisions at once, the second finds it
    moved on (it waited on the row's lock) and is refused; nothing is decided twice."""
    moved = session.exec(update(AfterSale).where(AfterSale.id == a.id, AfterSale.status.in_(from_))
                         .values(status=to, updated_at=utcnow(), **values)
                         .execution_options(synchronize_session=False)).rowcount
    if not moved:
        session.refresh(a)
        raise AfterSaleNotDecidable(f"After-sales request {a.id} is {a.status}; it cannot become {to}.",
                                    status_now=a.status)
    session.refresh(a)


def _approve_and_refund(session: Session, a: AfterSale, *, from_: tuple[str, ...], actor: str, by: str,
                        note: str | None) -> AfterSale:
    _move(session, a, from_=from_, to=A.approved.value, decided_by=by)
    _log(session, a.id, actor=actor, action="approved", note=note)
    _tell_buyer(session, a, "approved", note)
    items = list(session.exec(select(AfterSaleItem).where(AfterSaleItem.after_sale_id == a.id)
                              .order_by(AfterSaleItem.id)))
    # Only what is left of the units asked for (a shortage or an operator may have refunded some
    # meanwhile): clamp, so nothing is given back twice; the order's row lock orders the racers.
    done = payment_units.refund_order_units(
        session, order_id=a.order_id, lines={it.sku_id: it.qty for it in items}, clamp=True,
        reason="after_sale", idempotency_ref=f"after-sale-{a.id}", allowed_from=REQUESTABLE)
    got = {t.sku_id: t.qty for t in done.units}
    for it in items:
        if got.get(it.sku_id):
            session.exec(update(AfterSaleItem).where(AfterSaleItem.id == it.id)
                         .values(refunded_qty=got[it.sku_id]).execution_options(synchronize_session=False))
    _move(session, a, from_=(A.approved.value,), to=A.refunded.value, refunded_amount=done.amount)
    _log(session, a.id, actor="system", action="refunded",
         note=f"{done.amount} fen, {sum(got.values())} unit(s)" if got else "nothing left to refund")
    _tell_buyer(session, a, "refunded")
    return a


def leader_decide(session: Session, *, settings: Settings, after_sale_id: int, leader_id: int,
                  pickup_point_id: int, approve: bool, note: str | None) -> AfterSale:
    a = get(session, after_sale_id)
    if a.pickup_point_id != pickup_point_id:
        raise AfterSaleNotFound(f"After-sales request {after_sale_id} does not exist.")
    actor = f"leader:{leader_id}"
    if not approve:
        _move(session, a, from_=(A.requested.value,), to=A.rejected.value, decided_by="leader")
        _log(session, a.id, actor=actor, action="rejected", note=note)
        _tell_buyer(session, a, "rejected", note)
        return a
    if a.amount > settings.leader_after_sale_limit:
        _move(session, a, from_=(A.requested.value,), to=A.escalated.value)
        _log(session, a.id, actor=actor, action="escalated",
             note=f"approved by the leader above {settings.leader_after_sale_limit} fen" + (f": {note}" if note else ""))
        _tell_buyer(session, a, "escalated", note)
        return a
    return _approve_and_refund(session, a, from_=(A.requested.value,), actor=actor, by="leader", note=note)


def operator_decide(session: Session, *, after_sale_id: int, user_id: int, approve: bool,
                    note: str | None) -> AfterSale:
    """The operator decides escalated requests (and may take a request the leader has not decided)."""
    a = get(session, after_sale_id)
    actor = f"operator:{user_id}"
    from_ = (A.escalated.value, A.requested.value)
    if approve:
        return _approve_and_refund(session, a, from_=from_, actor=actor, by="operator", note=note)
    _move(session, a, from_=from_, to=A.rejected.value, decided_by="operator")
    _log(session, a.id, actor=actor, action="rejected", note=note)
    _tell_buyer(session, a, "rejected", note)
    return a


def escalate_by_buyer(session: Session, *, after_sale_id: int, buyer_id: int) -> AfterSale:
    a = get(session, after_sale_id)
    if a.buyer_id != buyer_id:
        raise AfterSaleNotFound(f"After-sales request {after_sale_id} does not exist.")
    if a.status == A.rejected.value and a.decided_by != "leader":
        raise AfterSaleNotDecidable("The operator's rejection is final.", status_now=a.status)
    try:
        with session.begin_nested():
            _move(session, a, from_=(A.rejected.value,), to=A.escalated.value)
    except IntegrityError:  # a newer request of the order is open
        raise AfterSaleOpen(f"Order {a.order_id} already has an after-sales request being handled.",
                            order_id=a.order_id) from None
    _log(session, a.id, actor=f"buyer:{buyer_id}", action="escalated")
    _tell_buyer(session, a, "escalated")
    return a


def overdue(session: Session, *, settings: Settings, now: datetime | None = None, limit: int = 500) -> list[int]:
    cutoff = (now or utcnow()) - timedelta(hours=settings.after_sale_sla_h)
    return list(session.exec(select(AfterSale.id).where(AfterSale.status == A.requested.value,
                                                        AfterSale.created_at <= cutoff)
                             .order_by(AfterSale.created_at).limit(limit)))


def escalate_overdue(session: Session, *, settings: Settings, after_sale_id: int) -> bool:
    """One request the leader let sit past LINLI_AFTER_SALE_SLA_H goes to the operator (False if
    the leader decided it meanwhile)."""
    a = get(session, after_sale_id)
    try:
        _move(session, a, from_=(A.requested.value,), to=A.escalated.value)
    except AfterSaleNotDecidable:
        return False
    _log(session, a.id, actor="system", action="escalated",
         note=f"not decided by the leader within {settings.after_sale_sla_h} h")
    _tell_buyer(session, a, "escalated")
    return True


assert set(OPEN) <= {s.value for s in A}
