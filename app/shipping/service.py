"""Shipping syncs: written as an outbox in the order's own transaction (the leader's receive, the
pickup as a fallback), moved on by conditional UPDATEs so that a worker, a lookup, a push and a
sweep racing each other never send a payment's shipment twice nor undo a later state.

Never commits; WeChat is called by app/shipping/flows.py, outside any transaction."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.db import after_commit, dialect_insert, utcnow
from app.order import queries as order_queries
from app.payment import service as payment_service
from app.payment.providers import order_id_from_trade_no, out_trade_no, trade_no_of
from app.queue import enqueue
from app.shipping.models import SELF_PICKUP, VIRTUAL_GOODS, ShippingSync, SyncState

log = logging.getLogger(__name__)

S = SyncState
T = ShippingSync.__table__
BATCH = 200  # syncs per upload job: a receive at a big point reports hundreds of orders
ITEM_DESC_MAX = 120  # WeChat's limit for shipping_list[].item_desc, in characters
# An upload taken by a worker that then went silent this long (killed mid-call): its outcome is
# unknown, so it is looked up, never simply sent again.
STUCK_AFTER = timedelta(minutes=10)
REDRIVE_AFTER = timedelta(minutes=1)
ARRIVED_STATES = ("arrived", "picked_up")
SENT_STATES = (S.uploaded, S.confirmed, S.settled)


# ---- the outbox: order hooks ------------------------------------------------------------------

def queue_received(session: Session, order_ids: list[int]) -> None:
    """The goods reached the pickup point (the leader's receive, order event `received`): from now
    on WeChat's short auto-settlement clock for a self-pickup order may run, so the uploads are
    queued, as a set (three statements for a whole delivery, not three per order)."""
    queue_orders(session, order_queries.orders_by_ids(session, order_ids))


def queue_on_pickup(session: Session, order) -> None:
    """The fallback: an order picked up without a recorded arrival (or before this domain
    existed) is queued at pickup; one already queued is left as it is."""
    if session.execute(select(T.c.id).where(T.c.order_id == order.id)).first() is None:
        queue_orders(session, [order])


def void_on_refund(session: Session, order) -> None:
    """An order refunded before its upload went out is never uploaded (WeChat would refuse it, and
    there is nothing to settle). One already sent stays as it is."""
    n = session.execute(update(T).where(T.c.order_id == order.id, T.c.state == S.pending.value)
                        .values(state=S.void.value, error="refunded before upload", updated_at=utcnow())).rowcount
    if n:
        log.info("shipping sync of order %s void: refunded before upload", order.id)


def item_desc(lines: list[tuple[str, int]]) -> str:
    """'麒麟西瓜 一个装*2;土鸡蛋 10枚*1', cut to WeChat's 120 characters."""
    text = ";".join(f"{name}*{qty}" for name, qty in lines) or "商品"
    return text if len(text) <= ITEM_DESC_MAX else text[:ITEM_DESC_MAX - 3] + "..."


def queue_orders(session: Session, orders: list) -> list[int]:
    """Write each order's sync (pending, due now) unless it has one or was not paid through WeChat
    Pay (the sandbox has nothing to report; a payment all given back has nothing to settle).
    Answers the ids written. Safe to call again: one row per order and per payment."""
    payments = payment_service.applied_payments(session, order_ids=[o.id for o in orders])
    wanted = [(o, payments[o.id]) for o in orders
              if o.id in payments and payments[o.id].provider == "wechatpay"
              and payments[o.id].refunded_amount < payments[o.id].amount]
    if not wanted:
        return []
    items = order_queries.items_of(session, [o.id for o, _ in wanted])
    rows = []
    for order, payment in wanted:
        payer = (payment.payload or {}).get("payer") or {}
        openid = payer.get("openid") if isinstance(payer, dict) else None
        if not isinstance(openid, str) or not openid:  # every WeChat Pay notification names the payer
            openid = auth_service.openid_of(session, user_id=order.buyer_id)
        desc = item_desc([(f"{i.product_name} {i.sku_name}".strip(), i.qty) for i in items[order.id]])
        rows.append(dict(order_id=order.id, ref=f"order:{order.id}", transaction_id=payment.transaction_id,
                         out_trade_no=out_trade_no(order.id), openid=openid, logistics_type=SELF_PICKUP,
                         item_desc=desc, paid_at=order.paid_at))
    return _insert(session, rows)


def queue_order(session: Session, order) -> int | None:
    """One order's sync id: the existing one, or one written now (None: nothing to report)."""
    existing = session.execute(select(T.c.id).where(T.c.order_id == order.id)).scalar_one_or_none()
    if existing is not None:
        return existing
    written = queue_orders(session, [order])
    return written[0] if written else None


def queue_recharge_payment(session: Session, *, payment, user_id: int, description: str) -> int | None:
    """A wallet recharge paid through WeChat Pay is virtual goods, reported as soon as it is paid
    (registered in app/wiring.py as a reaction of the wallet's recharges)."""
    if payment.provider != "wechatpay" or payment.recharge_id is None:
        return None
    payer = (payment.payload or {}).get("payer") or {}
    openid = payer.get("openid") if isinstance(payer, dict) else None
    if not isinstance(openid, str) or not openid:
        openid = auth_service.openid_of(session, user_id=user_id)
    return queue_virtual_goods(session, ref=f"recharge:{payment.recharge_id}", transaction_id=payment.transaction_id,
                               out_trade_no=trade_no_of(payment), openid=openid, item_desc=description,
                               paid_at=payment.created_at)


def queue_virtual_goods(session: Session, *, ref: str, transaction_id: str, out_trade_no: str, openid: str,
                        item_desc: str, paid_at: datetime | None) -> int | None:
    """The seam for recharges (queue_recharge_payment): a payment for virtual goods is
    reported as logistics_type 3 as soon as it is paid, through the same outbox and worker."""
    written = _insert(session, [dict(order_id=None, ref=ref, transaction_id=transaction_id, out_trade_no=out_trade_no,
                                     openid=openid, logistics_type=VIRTUAL_GOODS, item_desc=item_desc[:ITEM_DESC_MAX],
                                     paid_at=paid_at)])
    return written[0] if written else None


def _insert(session: Session, rows: list[dict]) -> list[int]:
    now = utcnow()
    # ON CONFLICT DO NOTHING: a receive repeated, or racing a pickup or the sweep, writes one row.
    stmt = dialect_insert(session, T).values([dict(state=S.pending.value, attempts=0, created_at=now, updated_at=now,
                                                   due_at=now, **row) for row in rows])
    new_ids = list(session.execute(stmt.on_conflict_do_nothing().returning(T.c.id)).scalars())
    for new_id in new_ids:
        _enqueue_after_commit(session, new_id)
    return new_ids


def _enqueue_after_commit(session: Session, sync_id: int) -> None:
    pending = session.info.get("linli.shipping_syncs")
    if pending is None:
        pending = session.info["linli.shipping_syncs"] = []
        after_commit(lambda: enqueue_uploads(pending))
    pending.append(sync_id)


def enqueue_uploads(sync_ids: list[int], *, delay: timedelta | None = None) -> None:
    for start in range(0, len(sync_ids), BATCH):
        enqueue("app.shipping.jobs.upload_shipping_job", sync_ids[start:start + BATCH], delay=delay)


def enqueue_check(sync_id: int, *, delay: timedelta | None = None) -> None:
    enqueue("app.shipping.jobs.check_shipping_job", sync_id, delay=delay)


# ---- reading ----------------------------------------------------------------------------------

def sync_of_order(session: Session, *, order_id: int) -> ShippingSync | None:
    return session.exec(select(ShippingSync).where(ShippingSync.order_id == order_id)).first()


def sync_of_transaction(session: Session, *, transaction_id: str) -> ShippingSync | None:
    return session.exec(select(ShippingSync).where(ShippingSync.transaction_id == transaction_id)).first()


def upload_body(sync: ShippingSync, *, upload_time: str) -> dict[str, Any]:
    """WeChat's upload_shipping_info body: unified delivery (delivery_mode 1) with exactly one
    shipping_list entry (more is refused in this mode), keyed by the WeChat Pay transaction."""
    return {
        "order_key": {"order_number_type": 2, "transaction_id": sync.transaction_id},
        "logistics_type": sync.logistics_type,
        "delivery_mode": 1,
        "shipping_list": [{"item_desc": sync.item_desc}],
        "upload_time": upload_time,
        "payer": {"openid": sync.openid},
    }


# ---- the worker's state changes ---------------------------------------------------------------

def move(session: Session, sync_id: int, to: SyncState, from_: tuple[SyncState, ...], **values) -> bool:
    """One conditional UPDATE: the sync changes only from the states named, so a late writer (a
    lookup answered after a push, a second worker) changes nothing."""
    values.setdefault("updated_at", utcnow())
    return bool(session.execute(update(T).where(T.c.id == sync_id, T.c.state.in_([s.value for s in from_]))
                                .values(state=to.value, **values)).rowcount)


def claim_upload(session: Session, *, sync_id: int, now: datetime, upload_time: str) -> ShippingSync | None:
    """pending (and due) → uploading, counting the attempt; None when another worker has it, it is
    not due, or it moved on. The one guard that keeps a payment's upload from being sent twice."""
    taken = session.execute(update(T).where(T.c.id == sync_id, T.c.state == S.pending.value, T.c.due_at <= now)
                            .values(state=S.uploading.value, attempts=T.c.attempts + 1, upload_time=upload_time,
                                    updated_at=now)).rowcount
    if not taken:
        return None
    sync = session.get(ShippingSync, sync_id)
    session.refresh(sync)
    return sync


def mark_uploaded(session: Session, *, sync_id: int, note: str | None = None) -> bool:
    now = utcnow()
    return move(session, sync_id, S.uploaded, (S.uploading, S.uncertain, S.pending), uploaded_at=now,
                 errcode=None, error=note)


def mark_uncertain(session: Session, *, sync_id: int, errcode: int | None, error: str, check_at: datetime) -> bool:
    """The request may have reached WeChat: nothing is sent again until get_order has answered."""
    return move(session, sync_id, S.uncertain, (S.uploading, S.uploaded), errcode=errcode,
                 error=error[:200], due_at=check_at)


def after_transient(session: Session, *, sync: ShippingSync, errcode: int | None, error: str,
                    retry_s: list[int]) -> timedelta | None:
    """WeChat did not take the upload and said so (payment not filed yet, busy): pending again
    after the next wait, or failed after the last. Answers the wait, None when failed."""
    if sync.attempts > len(retry_s):
        move(session, sync.id, S.failed, (S.uploading,), errcode=errcode, error=f"gave up: {error}"[:200])
        log.error("shipping sync %s failed after %d attempts: %s", sync.id, sync.attempts, error)
        return None
    wait = timedelta(seconds=retry_s[sync.attempts - 1])
    move(session, sync.id, S.pending, (S.uploading,), errcode=errcode, error=error[:200], due_at=utcnow() + wait)
    return wait


def mark_failed(session: Session, *, sync_id: int, errcode: int | None, error: str) -> bool:
    log.error("shipping sync %s refused by WeChat (%s): %s", sync_id, errcode, error)
    return move(session, sync_id, S.failed, (S.uploading, S.uncertain), errcode=errcode, error=error[:200])


# WeChat's order_state in get_order / get_order_list.
AWAITING, SHIPPED, RECEIVED, COMPLETED, REFUNDED = 1, 2, 3, 4, 5


def apply_lookup(session: Session, *, sync_id: int, order: dict, retry_in: timedelta) -> SyncState | None:
    """What get_order says about an uncertain upload: WeChat's word decides whether it is sent."""
    state = order.get("order_state")
    kw: dict[str, Any] = {"wechat_state": state if isinstance(state, int) else None}
    if state == AWAITING:
        # WeChat has no shipment for this payment: the request never took, sending it is safe.
        return S.pending if move(session, sync_id, S.pending, (S.uncertain,), due_at=utcnow(), **kw) else None
    if state == SHIPPED:
        return S.uploaded if move(session, sync_id, S.uploaded, (S.uncertain,), uploaded_at=utcnow(), error=None,
                                   **kw) else None
    if state == RECEIVED:
        return S.confirmed if move(session, sync_id, S.confirmed, (S.uncertain,), confirmed_at=utcnow(),
                                    **kw) else None
    if state == COMPLETED:
        return S.settled if move(session, sync_id, S.settled, (S.uncertain,), **kw) else None
    if state == REFUNDED:
        return S.void if move(session, sync_id, S.void, (S.uncertain,), error="refunded at WeChat", **kw) else None
    session.execute(update(T).where(T.c.id == sync_id, T.c.state == S.uncertain.value)
                    .values(due_at=utcnow() + retry_in, error=f"get_order gave order_state {state!r}"[:200]))
    return None


def claim_check(session: Session, *, sync_id: int, now: datetime, retry_in: timedelta) -> ShippingSync | None:
    """An uncertain sync whose lookup is due, pushed back by `retry_in` (so that a second checker
    and the sweep wait for this one)."""
    taken = session.execute(update(T).where(T.c.id == sync_id, T.c.state == S.uncertain.value, T.c.due_at <= now)
                            .values(due_at=now + retry_in, updated_at=now)).rowcount
    return session.get(ShippingSync, sync_id) if taken else None


def retry_failed(session: Session, *, sync_id: int) -> bool:
    """Operators: failed → pending with a fresh budget (a failed upload was never taken by WeChat:
    refused, or a lookup said it had no shipment), sent after commit."""
    if not move(session, sync_id, S.pending, (S.failed,), attempts=0, due_at=utcnow(), errcode=None):
        return False
    after_commit(lambda: enqueue_uploads([sync_id]))
    return True


# ---- sweeps -----------------------------------------------------------------------------------

def to_redrive(session: Session, *, now: datetime, limit: int = 1000) -> tuple[list[int], list[int]]:
    """(pending ids a minute past due: their enqueue was lost; uncertain ids due for a lookup).
    A sync left uploading by a worker that died mid-call becomes uncertain first."""
    session.execute(update(T).where(T.c.state == S.uploading.value, T.c.updated_at <= now - STUCK_AFTER)
                    .values(state=S.uncertain.value, error="worker stopped mid-upload", due_at=now, updated_at=now))

    def ids(state: SyncState, before: datetime) -> list[int]:
        return list(session.execute(select(T.c.id).where(T.c.state == state.value, T.c.due_at <= before)
                                    .order_by(T.c.id).limit(limit)).scalars())
    return ids(S.pending, now - REDRIVE_AFTER), ids(S.uncertain, now)


def reconcile_awaiting(session: Session, *, transaction_id: str, merchant_trade_no: str | None) -> str:
    """WeChat holds this payment as awaiting shipment (get_order_list, or a remind_shipping push).
    Answers what was done: queued (an arrived order had no sync), due (a pending one made due now),
    recheck (one we thought sent: get_order decides), or why nothing."""
    sync = sync_of_transaction(session, transaction_id=transaction_id)
    if sync is None:
        order_id = order_id_from_trade_no(merchant_trade_no or "")
        order = order_queries.find_order(session, order_id=order_id) if order_id else None
        if order is None:
            return "unknown"
        if order.status not in ARRIVED_STATES:
            return "not_arrived"
        return "queued" if queue_order(session, order) is not None else "not_wechatpay"
    if sync.state == S.pending.value:
        session.execute(update(T).where(T.c.id == sync.id, T.c.state == S.pending.value).values(due_at=utcnow()))
        after_commit(lambda: enqueue_uploads([sync.id]))
        return "due"
    if sync.state in (S.uploaded.value, S.confirmed.value, S.settled.value):
        if mark_uncertain(session, sync_id=sync.id, errcode=None, error="WeChat lists it as awaiting shipment",
                          check_at=utcnow()):
            after_commit(lambda: enqueue_check(sync.id))
            return "recheck"
    return sync.state
