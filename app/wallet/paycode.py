"""The pay code (付款码): an 18-digit code the mini-program shows (QR and barcode), valid
LINLI_PAY_CODE_TTL_S, single use, a new one voiding the last; a leader charges it at the counter
(the buyer's wallet pays, the leader's earnings are credited) and may refund the charge on the
same business day, once."""
from __future__ import annotations

import secrets
from datetime import date, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.db import utcnow
from app.earnings import service as earnings_service
from app.notify import service as notify_service
from app.pagination import keyset
from app.wallet import service as wallet_service
from app.wallet.errors import ChargeNotFound, ChargeRefundClosed, ChargeRefunded, CodeExpired, CodeUsed, UnknownCode
from app.wallet.models import EntryKind, PayCode, PayCodeCharge, PayCodeStatus

PC = PayCodeStatus
# Like WeChat Pay's and Alipay's codes: a fixed 2-digit prefix (a scanner tells them apart) and 16
# random digits from the OS's CSPRNG: 10^16 codes, a handful live at a time, so guessing one is
# hopeless, and wrong guesses are rate-limited per leader besides.
CODE_PREFIX = "66"
CODE_LENGTH = 18


def draw_code() -> str:
    return CODE_PREFIX + f"{secrets.randbelow(10 ** (CODE_LENGTH - len(CODE_PREFIX))):016d}"


def issue_code(session: Session, *, user_id: int, ttl_s: int) -> PayCode:
    """A new code for the buyer; every earlier live one is voided in the same transaction."""
    wallet_service.lock_account(session, user_id=user_id)  # one issue at a time per buyer
    now = utcnow()
    session.exec(update(PayCode).where(PayCode.user_id == user_id, PayCode.status == PC.active.value)
                 .values(status=PC.voided.value))
    for _ in range(5):
        code = PayCode(user_id=user_id, code=draw_code(), expires_at=now + timedelta(seconds=ttl_s), created_at=now)
        try:
            with session.begin_nested():
                session.add(code)
                session.flush()
            return code
        except IntegrityError:  # an old code with the same digits (one in 10^16): draw again
            continue
    raise RuntimeError("could not draw a fresh pay code")


def charge(session: Session, *, leader_id: int, pickup_point_id: int | None, code: str, amount: int,
           note: str | None, business_date: date) -> tuple[PayCodeCharge, int]:
    """Take `amount` from the wallet of the code's buyer; answers the charge and the balance after. The code is used in one conditional
    UPDATE (WHERE status = 'active' AND not expired), so of any number of racing charges one
    takes it; a refusal (insufficient_balance) rolls the whole transaction back and the code
    stays usable until it expires."""
    pc = session.exec(select(PayCode).where(PayCode.code == code)).first()
    if pc is None:
        raise UnknownCode("No such pay code.")
    now = utcnow()
    used = session.exec(update(PayCode).where(PayCode.id == pc.id, PayCode.status == PC.active.value,
                                              PayCode.expires_at > now)
                        .values(status=PC.used.value, used_at=now)).rowcount
    if not used:
        session.refresh(pc)
        if pc.status == PC.used.value:
            raise CodeUsed("This pay code was used already; ask the buyer to show a new one.")
        raise CodeExpired("This pay code has expired; ask the buyer to show a new one.")
    sale = PayCodeCharge(pay_code_id=pc.id, buyer_id=pc.user_id, leader_id=leader_id, pickup_point_id=pickup_point_id,
                         amount=amount, principal=0, bonus=0, note=note, business_date=business_date, created_at=now)
    session.add(sale)
    session.flush()
    entry = wallet_service.spend(session, user_id=pc.user_id, amount=amount, kind=EntryKind.pay_code.value,
                                 ref=f"pay_code:{sale.id}")
    sale.principal, sale.bonus = -entry.principal, -entry.bonus
    session.add(sale)
    earnings_service.pay_code_sale(session, leader_id=leader_id, charge_id=sale.id, amount=amount)
    notify_service.notify(session, user_id=pc.user_id, event="pay_code.charged",
                          data={"charge_id": sale.id, "amount": amount, "balance_after": entry.balance_after},
                          title="付款成功", body=f"付款码支付 {amount / 100:.2f} 元，余额 {entry.balance_after / 100:.2f} 元")
    session.flush()
    return sale, entry.balance_after


def get_charge(session: Session, *, charge_id: int, leader_id: int) -> PayCodeCharge:
    sale = session.get(PayCodeCharge, charge_id)
    if sale is None or sale.leader_id != leader_id:
        raise ChargeNotFound(f"Pay code charge {charge_id} does not exist.")
    return sale


def refund_charge(session: Session, *, charge_id: int, leader_id: int,
                  business_date: date) -> tuple[PayCodeCharge, int | None]:
    """The whole charge back to the wallet (in the parts it came out) and out of the leader's
    earnings: on its business day only, once (a conditional UPDATE charged → refunded)."""
    sale = get_charge(session, charge_id=charge_id, leader_id=leader_id)
    if sale.business_date != business_date:
        raise ChargeRefundClosed(f"Charge {charge_id} was made on {sale.business_date}; counter sales are refunded "
                                 "on their own business day only.")
    moved = session.exec(update(PayCodeCharge).where(PayCodeCharge.id == charge_id,
                                                     PayCodeCharge.status == "charged")
                         .values(status="refunded", refunded_at=utcnow())).rowcount
    if not moved:
        raise ChargeRefunded(f"Charge {charge_id} was refunded already.")
    entry = wallet_service.put_in(session, user_id=sale.buyer_id, principal=sale.principal, bonus=sale.bonus,
                                  kind=EntryKind.pay_code_refund.value, ref=f"pay_code:{charge_id}")
    earnings_service.pay_code_refunded(session, leader_id=leader_id, charge_id=charge_id, amount=sale.amount)
    balance = entry.balance_after if entry is not None else None
    notify_service.notify(session, user_id=sale.buyer_id, event="pay_code.refunded",
                          data={"charge_id": charge_id, "amount": sale.amount, "balance_after": balance},
                          title="付款码退款", body=f"退回 {sale.amount / 100:.2f} 元到余额")
    session.refresh(sale)
    return sale, balance


def buyer_nickname(session: Session, *, user_id: int) -> str:
    return auth_service.nicknames(session, user_ids=[user_id]).get(user_id, "")


def list_charges(session: Session, *, leader_id: int, before_id: int | None, limit: int) -> list[PayCodeCharge]:
    q = select(PayCodeCharge).where(PayCodeCharge.leader_id == leader_id)
    return list(session.exec(keyset(q, PayCodeCharge.id, before_id, limit)))


def nicknames(session: Session, *, user_ids: list[int]) -> dict[int, str]:
    return auth_service.nicknames(session, user_ids=user_ids)
