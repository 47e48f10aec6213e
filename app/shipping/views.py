"""What operators see: the syncs by state, and the orders paid through WeChat Pay long ago that
WeChat has not been told of (the money it holds frozen)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from app.order.models import Order
from app.pagination import keyset
from app.payment.models import Payment
from app.shipping.models import ShippingSync, SyncState

S = SyncState
OPEN_ORDER_STATES = ("paid", "shipped", "arrived", "picked_up")
SENT = (S.uploaded.value, S.confirmed.value, S.settled.value)


def list_syncs(session: Session, *, state: str | None, before_id: int | None, limit: int) -> list[ShippingSync]:
    q = select(ShippingSync)
    if state:
        q = q.where(ShippingSync.state == state)
    return list(session.exec(keyset(q, ShippingSync.id, before_id, limit)))


def counts(session: Session) -> dict[str, int]:
    have = dict(session.exec(select(ShippingSync.state, func.count()).group_by(ShippingSync.state)).all())
    return {s.value: int(have.get(s.value, 0)) for s in S}


def overdue_count(session: Session, *, now: datetime, after: timedelta) -> int:
    """Orders paid through WeChat Pay before now - after, still open, whose payment WeChat has not
    been told of: one SQL count (orders, their applied payment, their sync if any)."""
    q = (select(func.count()).select_from(Order)
         .join(Payment, and_(Payment.order_id == Order.id, Payment.provider == "wechatpay",
                             Payment.status == "applied"))
         .outerjoin(ShippingSync, ShippingSync.order_id == Order.id)
         .where(Order.paid_at <= now - after, Order.status.in_(OPEN_ORDER_STATES),
                or_(ShippingSync.id.is_(None), ShippingSync.state.not_in(SENT))))
    return int(session.exec(q).one())
