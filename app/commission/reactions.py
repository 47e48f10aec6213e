"""The commission domain's reactions to orders (wired in app/wiring.py): a picked-up order earns
its leader's commission, a refunded one takes it back."""
from __future__ import annotations

from sqlmodel import Session

from app.commission import service as commission_service
from app.config import current_settings
from app.order.models import Order
from app.order.queries import commission_base


def accrue_on_pickup(session: Session, order: Order) -> None:
    commission_service.accrue(session, settings=current_settings(), order_id=order.id, leader_id=order.leader_id,
                              total=commission_base(session, order), picked_up_at=order.picked_up_at)


def reverse_on_refund(session: Session, order: Order) -> None:
    commission_service.reverse(session, order_id=order.id)
