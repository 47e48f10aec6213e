"""Wallet use cases that own their transactions: a recharge's payment provider is called between
two of them (never inside one), and a counter charge counts wrong codes in Redis outside its own."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.auth import service as auth_service
from app.config import Settings
from app.db import reading, transaction, utcnow
from app.order.rules import local_today
from app.payment import flows as payment_flows
from app.payment import service as payment_service
from app.payment.providers import PaymentEvent, recharge_trade_no
from app.queue import get_redis
from app.wallet import paycode, recharges
from app.wallet.errors import TooManyWrongCodes, UnknownCode
from app.wallet.models import PayCodeCharge, Recharge

RECHARGE_PAY_WINDOW = timedelta(hours=2)


def start_recharge(*, user_id: int, package_id: int) -> tuple[Recharge, dict[str, Any], str]:
    """A pending recharge and the client's payment parameters; the sandbox pays it at once through
    the path a provider's notification takes (credited once, whatever repeats)."""
    with transaction() as s:
        recharge = recharges.create_recharge(s, user_id=user_id, package_id=package_id)
        openid = auth_service.openid_of(s, user_id=user_id)
    p = payment_flows.provider()
    params = p.prepay(out_trade_no=recharge_trade_no(recharge.id), amount=recharge.pay_amount,
                      description=f"linli recharge {recharge.id}", payer_openid=openid,
                      expires_at=utcnow() + RECHARGE_PAY_WINDOW)
    if p.name == "sandbox":
        with transaction() as s:
            payment_service.confirm_payment(s, provider_name="sandbox", event=PaymentEvent(
                out_trade_no=recharge_trade_no(recharge.id), transaction_id=f"sandbox-recharge-{recharge.id}",
                amount=recharge.pay_amount, paid_at=utcnow()))
    with reading() as s:
        recharge = recharges.get_recharge(s, recharge_id=recharge.id)
    return recharge, params, p.name


def refund_recharge(*, recharge_id: int) -> Recharge:
    """The recharge's principal and bonus out of the wallet (409 balance_spent) and its pay_amount
    back through the provider that took it (a refund row the refund job moves), in one transaction."""
    with transaction() as s:
        recharge = recharges.take_back_recharge(s, recharge_id=recharge_id)
        payment_service.refund_recharge_payment(s, recharge_id=recharge_id, amount=recharge.pay_amount,
                                                reason="recharge_refund")
    return recharge


def _wrong_key(leader_id: int) -> str:
    return f"linli:paycode:wrong:{leader_id}"


def charge_pay_code(*, settings: Settings, leader_id: int, pickup_point_id: int | None, code: str, amount: int,
                    note: str | None) -> tuple[PayCodeCharge, int, str]:
    """A counter sale: answers the charge, the buyer's balance after it and their nickname. A
    leader who has entered LINLI_PAY_CODE_WRONG_LIMIT unknown codes in the window is refused
    (429) until it passes: codes are unguessable, and this keeps them so."""
    r = get_redis()
    if int(r.get(_wrong_key(leader_id)) or 0) >= settings.pay_code_wrong_limit:
        raise TooManyWrongCodes("Too many wrong pay codes; wait a few minutes.",
                                retry_after_s=max(int(r.ttl(_wrong_key(leader_id))), 1))
    try:
        with transaction() as s:
            sale, balance = paycode.charge(s, leader_id=leader_id, pickup_point_id=pickup_point_id, code=code,
                                           amount=amount, note=note, business_date=local_today(settings))
            nickname = paycode.buyer_nickname(s, user_id=sale.buyer_id)
    except UnknownCode:
        pipe = r.pipeline()
        pipe.incr(_wrong_key(leader_id))
        pipe.expire(_wrong_key(leader_id), settings.pay_code_wrong_window_s, nx=True)
        pipe.execute()
        raise
    return sale, balance, nickname
