"""The wallet ledger: every change of a buyer's principal or bonus is one entry, written in the
same transaction as a conditional UPDATE of the account (WHERE principal >= p AND bonus >= b,
with CHECKs behind it) after the account's row is locked, so one buyer's entries are written in
the order their balances chain in and no balance ever goes below zero. (kind, ref) is unique:
each movement happens once, whoever gets there twice.

Spending takes principal first, then bonus: what the buyer paid in cash is used before the gift,
and a refund gives each part back in the proportion it came out (bonus is never refunded as cash:
a recharge refund pays back its pay_amount and takes its bonus out of the wallet)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.db import dialect_insert, utcnow
from app.pagination import keyset
from app.wallet.errors import InsufficientBalance, MemberLevelExists
from app.wallet.models import EntryKind, GrowthEntry, MemberLevel, WalletAccount, WalletEntry

# The kinds the payment domain writes when it moves wallet money (an order paid, a refund back).
ORDER_PAYMENT, ORDER_REFUND = EntryKind.payment.value, EntryKind.refund.value


def ensure_account(session: Session, *, user_id: int) -> None:
    stmt = dialect_insert(session, WalletAccount.__table__).values(user_id=user_id, principal=0, bonus=0, growth=0,
                                                                   updated_at=utcnow())
    session.execute(stmt.on_conflict_do_nothing(index_elements=["user_id"]))


def lock_account(session: Session, *, user_id: int) -> WalletAccount:
    """The buyer's account, created if need be, its row locked until the transaction ends
    (SQLite: the whole database already is, from BEGIN IMMEDIATE)."""
    ensure_account(session, user_id=user_id)
    return session.exec(select(WalletAccount).where(WalletAccount.user_id == user_id)
                        .with_for_update().execution_options(populate_existing=True)).one()


def get_account(session: Session, *, user_id: int) -> WalletAccount:
    account = session.get(WalletAccount, user_id)
    return account if account is not None else WalletAccount(user_id=user_id)


def entry_for(session: Session, kind: str, ref: str) -> WalletEntry | None:
    return session.exec(select(WalletEntry).where(WalletEntry.kind == kind, WalletEntry.ref == ref)).first()


def _move(session: Session, *, user_id: int, principal: int, bonus: int, kind: str, ref: str,
          order_id: int | None = None) -> WalletEntry | None:
    """Change the account by these deltas in one conditional UPDATE and write the entry. None if
    the (kind, ref) movement was made already; InsufficientBalance if a part would go negative."""
    a = WalletAccount
    q = update(a).where(a.user_id == user_id)
    if principal < 0:
        q = q.where(a.principal >= -principal)
    if bonus < 0:
        q = q.where(a.bonus >= -bonus)
    q = q.values(principal=a.principal + principal, bonus=a.bonus + bonus, updated_at=utcnow())
    try:
        with session.begin_nested():
            row = session.execute(q.returning(a.principal, a.bonus)).first()
            if row is None:
                raise InsufficientBalance(f"The wallet does not hold {-(principal + bonus)} fen.")
            entry = WalletEntry(user_id=user_id, amount=principal + bonus, principal=principal, bonus=bonus, kind=kind,
                                ref=ref, order_id=order_id, balance_after=row[0] + row[1], created_at=utcnow())
            session.add(entry)
            session.flush()
    except IntegrityError:
        if entry_for(session, kind, ref) is not None:
            return None  # a concurrent twin wrote this movement first
        raise
    return entry


def spend(session: Session, *, user_id: int, amount: int, kind: str, ref: str,
          order_id: int | None = None) -> WalletEntry | None:
    """Take `amount` from the wallet, principal first. None if this (kind, ref) was taken already;
    InsufficientBalance (409) if the balance is short."""
    if amount <= 0:
        raise ValueError("a wallet spend is at least 1 fen")
    if entry_for(session, kind, ref) is not None:
        return None
    account = lock_account(session, user_id=user_id)
    if account.principal + account.bonus < amount:
        raise InsufficientBalance(f"The balance is {account.principal + account.bonus} fen, {amount} are needed.",
                                  balance=account.principal + account.bonus, amount=amount)
    from_principal = min(account.principal, amount)
    return _move(session, user_id=user_id, principal=-from_principal, bonus=-(amount - from_principal), kind=kind,
                 ref=ref, order_id=order_id)


def put_in(session: Session, *, user_id: int, principal: int, bonus: int, kind: str, ref: str,
           order_id: int | None = None) -> WalletEntry | None:
    """Money into the wallet (a recharge, a refund of a wallet payment). Once per (kind, ref)."""
    if principal < 0 or bonus < 0 or principal + bonus == 0:
        raise ValueError("put_in takes non-negative parts, not both zero")
    if entry_for(session, kind, ref) is not None:
        return None
    lock_account(session, user_id=user_id)
    return _move(session, user_id=user_id, principal=principal, bonus=bonus, kind=kind, ref=ref, order_id=order_id)


def take_out(session: Session, *, user_id: int, principal: int, bonus: int, kind: str, ref: str) -> WalletEntry | None:
    """Exactly these parts out of the wallet (a recharge refunded): InsufficientBalance if either
    part is no longer there."""
    if entry_for(session, kind, ref) is not None:
        return None
    lock_account(session, user_id=user_id)
    return _move(session, user_id=user_id, principal=-principal, bonus=-bonus, kind=kind, ref=ref)


def refund_parts(*, principal: int, bonus: int, before: int, after: int) -> tuple[int, int]:
    """What of a refund taking the refunded total of a spend of principal + bonus from `before`
    to `after` goes back as principal and as bonus: bonus in proportion, floored at each step,
    so that refunds in any number of parts give back exactly what came out."""
    paid = principal + bonus
    if paid <= 0:
        return 0, 0
    back_bonus = bonus * after // paid - bonus * before // paid
    return (after - before) - back_bonus, back_bonus


def list_entries(session: Session, *, user_id: int, before_id: int | None, limit: int) -> list[WalletEntry]:
    q = select(WalletEntry).where(WalletEntry.user_id == user_id)
    return list(session.exec(keyset(q, WalletEntry.id, before_id, limit)))


# ---- member levels and growth ------------------------------------------------------------------

def create_level(session: Session, *, name: str, min_growth: int, discount_percent: int) -> MemberLevel:
    if session.exec(select(MemberLevel.id).where(MemberLevel.min_growth == min_growth)).first() is not None:
        raise MemberLevelExists(f"A level already starts at growth {min_growth}.")
    level = MemberLevel(name=name, min_growth=min_growth, discount_percent=discount_percent, created_at=utcnow())
    session.add(level)
    session.flush()
    return level


def list_levels(session: Session) -> list[MemberLevel]:
    return list(session.exec(select(MemberLevel).order_by(MemberLevel.min_growth)))


def level_for(session: Session, *, growth: int) -> MemberLevel | None:
    """The highest level whose min_growth the growth reaches."""
    return session.exec(select(MemberLevel).where(MemberLevel.min_growth <= growth)
                        .order_by(MemberLevel.min_growth.desc()).limit(1)).first()


def member_discount(session: Session, *, user_id: int, line_amounts: list[int]) -> int:
    """The buyer's level discount on these ordinary lines, each floored to the fen."""
    level = level_for(session, growth=get_account(session, user_id=user_id).growth)
    if level is None or not level.discount_percent:
        return 0
    return sum(amount * level.discount_percent // 100 for amount in line_amounts)


def add_growth(session: Session, *, user_id: int, order_id: int, amount: int) -> bool:
    """Growth earned by an order, once."""
    if amount <= 0:
        return False
    return _growth(session, user_id=user_id, order_id=order_id, kind="earn", amount=amount)


def take_back_growth(session: Session, *, user_id: int, order_id: int) -> bool:
    """The growth an order earned, taken back once (never below zero)."""
    earned = session.exec(select(GrowthEntry.amount).where(GrowthEntry.order_id == order_id,
                                                            GrowthEntry.kind == "earn")).first()
    if not earned:
        return False
    return _growth(session, user_id=user_id, order_id=order_id, kind="reverse", amount=-earned)


def _growth(session: Session, *, user_id: int, order_id: int, kind: str, amount: int) -> bool:
    try:
        with session.begin_nested():
            session.add(GrowthEntry(user_id=user_id, order_id=order_id, kind=kind, amount=amount, created_at=utcnow()))
            session.flush()
    except IntegrityError:
        return False
    ensure_account(session, user_id=user_id)
    a = WalletAccount
    session.execute(update(a).where(a.user_id == user_id).values(
        growth=func.max(a.growth + amount, 0) if session.get_bind().dialect.name == "sqlite"
        else func.greatest(a.growth + amount, 0), updated_at=utcnow()))
    return True


# ---- our own books -----------------------------------------------------------------------------

def ledger_mismatches(session: Session) -> list[dict[str, Any]]:
    """Every account whose entries do not sum to its principal and bonus, or whose entries'
    balance_after do not chain (each the previous one plus its amount)."""
    e = WalletEntry
    sums = {uid: (p, b) for uid, p, b in session.exec(
        select(e.user_id, func.sum(e.principal), func.sum(e.bonus)).group_by(e.user_id))}
    prev = func.lag(e.balance_after, 1, 0).over(partition_by=e.user_id, order_by=e.id)
    chain = select(e.user_id.label("user_id"), (e.balance_after - e.amount - prev).label("gap")).subquery()
    broken = set(session.exec(select(chain.c.user_id).where(chain.c.gap != 0).distinct()))
    out = []
    accounts = {a.user_id: a for a in session.exec(select(WalletAccount))}
    for uid in sorted(set(accounts) | set(sums)):
        a = accounts.get(uid)
        principal, bonus = (a.principal, a.bonus) if a is not None else (0, 0)
        p_sum, b_sum = (int(x or 0) for x in sums.get(uid, (0, 0)))
        problems = []
        if p_sum != principal:
            problems.append("principal")
        if b_sum != bonus:
            problems.append("bonus")
        if uid in broken:
            problems.append("balance_after chain")
        if problems:
            out.append({"user_id": uid, "balance": principal + bonus, "ledger_sum": p_sum + b_sum,
                        "problems": problems})
    return out
