"""Points movements. Every movement is a ledger entry unique per (user, order, reason), so a hook
or job that runs twice moves nothing twice, and the balance is only ever changed in the same
transaction as its entry: by an upsert for a credit, and for a debit by ONE conditional UPDATE
(`balance = balance - n WHERE balance >= n`), which is what keeps it >= 0 under any concurrency
(the CHECK constraint is the database's last word, never the rule that is relied on)."""
from __future__ import annotations

from sqlalchemy import func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.pagination import keyset
from app.points.errors import InsufficientPoints
from app.points.models import PointAccount, PointEntry


def balance_of(session: Session, *, user_id: int) -> int:
    return int(session.exec(select(PointAccount.balance).where(PointAccount.user_id == user_id)).first() or 0)


def _entry(session: Session, *, user_id: int, amount: int, reason: str, order_id: int | None) -> bool:
    """Record the movement; False if it was made before (the unique key decides)."""
    try:
        with session.begin_nested():
            session.add(PointEntry(user_id=user_id, amount=amount, reason=reason, order_id=order_id))
            session.flush()
    except IntegrityError:
        return False
    return True


def credit(session: Session, *, user_id: int, amount: int, reason: str, order_id: int | None) -> bool:
    """Add points once per (user, order, reason). False if that movement was already made."""
    if amount <= 0 or not _entry(session, user_id=user_id, amount=amount, reason=reason, order_id=order_id):
        return False
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = PointAccount.__table__
    ins = dialect.insert(table).values(user_id=user_id, balance=amount)
    session.execute(ins.on_conflict_do_update(index_elements=["user_id"],
                                              set_={"balance": table.c.balance + amount}))
    return True


def _take(session: Session, *, user_id: int, amount: int) -> bool:
    """The one conditional UPDATE: takes `amount` only if the balance holds it."""
    return bool(session.exec(update(PointAccount)
                             .where(PointAccount.user_id == user_id, PointAccount.balance >= amount)
                             .values(balance=PointAccount.balance - amount)
                             .execution_options(synchronize_session=False)).rowcount)


def spend(session: Session, *, user_id: int, amount: int, reason: str, order_id: int) -> None:
    """Take points for an order; InsufficientPoints (nothing taken) if the balance is short."""
    if amount <= 0:
        return
    if not _take(session, user_id=user_id, amount=amount):
        raise InsufficientPoints(f"You have fewer than {amount} points.", points_to_use=amount,
                                 balance=balance_of(session, user_id=user_id))
    if not _entry(session, user_id=user_id, amount=-amount, reason=reason, order_id=order_id):
        raise AssertionError(f"order {order_id} spent points twice")  # a new order: cannot happen


def take_back(session: Session, *, user_id: int, amount: int, reason: str, order_id: int) -> int:
    """Take back up to `amount` points once per (user, order, reason), as far as the balance goes:
    points already spent are not clawed below zero. Answers what was taken (recorded as the
    entry's amount, so the ledger always sums to the balance)."""
    if amount <= 0:
        return 0
    # Locked (PostgreSQL; SQLite serialises writers), so what is read is what the UPDATE takes.
    seen = session.exec(select(PointAccount.balance).where(PointAccount.user_id == user_id)
                        .with_for_update()).first() or 0
    taken = min(amount, int(seen))
    # The movement is recorded even when nothing could be taken, so it is decided once.
    if not _entry(session, user_id=user_id, amount=-taken, reason=reason, order_id=order_id):
        return 0
    if taken and not _take(session, user_id=user_id, amount=taken):
        raise AssertionError("balance moved under a row lock")
    return taken


def moved(session: Session, *, user_id: int, order_id: int, reason_prefix: str) -> int:
    """The sum of one user's movements on an order whose reason starts with the prefix."""
    return int(session.exec(select(func.coalesce(func.sum(PointEntry.amount), 0))
                            .where(PointEntry.user_id == user_id, PointEntry.order_id == order_id,
                                   PointEntry.reason.startswith(reason_prefix))).one())


def entries(session: Session, *, user_id: int, before_id: int | None, limit: int) -> list[PointEntry]:
    return list(session.exec(keyset(select(PointEntry).where(PointEntry.user_id == user_id), PointEntry.id,
                                    before_id, limit)))


def ledger_mismatches(session: Session) -> list[tuple[int, int, int]]:
    """(user_id, balance, what the user's entries sum to) for every account whose entries do not
    sum to its balance, an account missing for entries included: for reconciliation, which
    reports them (a balance is never corrected from here)."""
    sums = (select(PointEntry.user_id.label("user_id"), func.sum(PointEntry.amount).label("total"))
            .group_by(PointEntry.user_id).subquery())
    with_account = session.exec(
        select(PointAccount.user_id, PointAccount.balance, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.user_id == PointAccount.user_id)
        .where(func.coalesce(sums.c.total, 0) != PointAccount.balance)).all()
    without = session.exec(
        select(sums.c.user_id, sums.c.total)
        .outerjoin(PointAccount, PointAccount.user_id == sums.c.user_id)
        .where(PointAccount.user_id.is_(None), sums.c.total != 0)).all()
    return sorted([(int(u), int(b), int(t)) for u, b, t in with_account] + [(int(u), 0, int(t)) for u, t in without])
