"""The wallet's reactions to orders (registered in app/wiring.py): growth for picked-up orders,
taken back when they are refunded."""
from __future__ import annotations

from sqlmodel import Session

from app.order.models import Order
from app.payment import service as payment_service
from app.wallet import service as wallet_service

FEN_PER_GROWTH = 100  # 1 growth per yuan paid


def growth_on_pickup(session: Session, order: Order) -> None:
    """1 growth per whole yuan the buyer paid for the order, less what was refunded before pickup."""
    payment = payment_service.payment_for(session, order.id)
    paid = payment.amount - payment.refunded_amount if payment is not None else 0
    wallet_service.add_growth(session, user_id=order.buyer_id, order_id=order.id, amount=paid // FEN_PER_GROWTH)


def growth_back_on_refund(session: Session, order: Order) -> None:
    wallet_service.take_back_growth(session, user_id=order.buyer_id, order_id=order.id)
