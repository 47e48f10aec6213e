"""Recharge packages (充100送10) and recharges: a recharge is paid through the payment path like
an order (out_trade_no LR + its id) and credited to the wallet once, whatever the notifications
do; refunding it takes its principal and bonus back out, only while the wallet holds both."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from app.db import get_or_raise, utcnow
from app.errors import InvalidState
from app.wallet import service as wallet_service
from app.wallet.errors import BalanceSpent, InsufficientBalance, RechargeNotFound, RechargePackageNotFound
from app.wallet.models import EntryKind, Recharge, RechargePackage, RechargeStatus

RS = RechargeStatus

# Reactions to a recharge's money being applied, each (session, *, payment, user_id, description):
# filled by app/wiring.py (the shipping sync reports a WeChat Pay recharge as virtual goods).
RECHARGE_PAID: list[Callable[..., Any]] = []


def create_package(session: Session, *, name: str, pay_amount: int, bonus_amount: int, active: bool) -> RechargePackage:
    package = RechargePackage(name=name, pay_amount=pay_amount, bonus_amount=bonus_amount, active=active,
                              created_at=utcnow())
    session.add(package)
    session.flush()
    return package


def active_packages(session: Session) -> list[RechargePackage]:
    return list(session.exec(select(RechargePackage).where(RechargePackage.active.is_(True))
                             .order_by(RechargePackage.pay_amount, RechargePackage.id)))


def create_recharge(session: Session, *, user_id: int, package_id: int) -> Recharge:
    package = session.get(RechargePackage, package_id)
    if package is None or not package.active:
        raise RechargePackageNotFound(f"Recharge package {package_id} does not exist or is not on offer.")
    recharge = Recharge(user_id=user_id, package_id=package.id, pay_amount=package.pay_amount,
                        bonus_amount=package.bonus_amount, created_at=utcnow())
    session.add(recharge)
    session.flush()
    return recharge


def get_recharge(session: Session, *, recharge_id: int) -> Recharge:
    return get_or_raise(session, Recharge, recharge_id, RechargeNotFound(f"Recharge {recharge_id} does not exist."))


def find_recharge(session: Session, *, recharge_id: int) -> Recharge | None:
    return session.get(Recharge, recharge_id)


def recharge_paid(session: Session, *, recharge_id: int, amount: int, payment: Any = None) -> str | None:
    """Money arrived for a recharge: pending_payment → paid and the wallet credited, in this
    transaction. None when applied; else why it cannot be (the caller refunds the money):
    "amount_mismatch" or "not_payable" (paid already through another transaction, or refunded)."""
    recharge = session.get(Recharge, recharge_id)
    if recharge is None:
        return "not_payable"
    if amount != recharge.pay_amount:
        return "amount_mismatch"
    moved = session.exec(update(Recharge).where(Recharge.id == recharge_id,
                                                Recharge.status == RS.pending_payment.value)
                         .values(status=RS.paid.value, paid_at=utcnow())).rowcount
    if not moved:
        return "not_payable"
    wallet_service.put_in(session, user_id=recharge.user_id, principal=recharge.pay_amount,
                          bonus=recharge.bonus_amount, kind=EntryKind.recharge.value, ref=f"recharge:{recharge_id}")
    if payment is not None:
        for react in RECHARGE_PAID:
            react(session, payment=payment, user_id=recharge.user_id,
                  description=f"余额充值 {recharge.pay_amount // 100}元")
    return None


def take_back_recharge(session: Session, *, recharge_id: int) -> Recharge:
    """paid → refunded, its principal and bonus out of the wallet (409 balance_spent if either
    is no longer all there). The caller refunds the pay_amount through the provider in the same
    transaction."""
    recharge = get_recharge(session, recharge_id=recharge_id)
    moved = session.exec(update(Recharge).where(Recharge.id == recharge_id, Recharge.status == RS.paid.value)
                         .values(status=RS.refunded.value, refunded_at=utcnow())).rowcount
    if not moved:
        session.refresh(recharge)
        raise InvalidState(f"Recharge {recharge_id} is {recharge.status}; only a paid one can be refunded.",
                           status_now=recharge.status)
    try:
        wallet_service.take_out(session, user_id=recharge.user_id, principal=recharge.pay_amount,
                                bonus=recharge.bonus_amount, kind=EntryKind.recharge_refund.value,
                                ref=f"recharge:{recharge_id}")
    except InsufficientBalance:
        raise BalanceSpent(f"The wallet no longer holds recharge {recharge_id}'s {recharge.pay_amount} fen "
                           f"and {recharge.bonus_amount} fen bonus.") from None
    session.refresh(recharge)
    return recharge
