"""Engine, sessions and the one-transaction-per-use-case context manager."""
from __future__ import annotations

import contextvars
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import wraps

from flask import current_app
from sqlalchemy import MetaData, event
from sqlalchemy.dialects.postgresql import insert as _pg_insert
from sqlalchemy.dialects.sqlite import insert as _sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, create_engine

# Stable constraint names so that Alembic can alter them (batch mode on SQLite included).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata
log = logging.getLogger(__name__)


# The one seam through which the app reads the time. Tests move it forward (the `clock` fixture)
# instead of sleeping; it is never moved outside tests.
_clock_offset = timedelta(0)


def utcnow() -> datetime:
    return datetime.now(timezone.utc) + _clock_offset


def advance_clock(seconds: float) -> None:
    """Move the app's time forward by `seconds` (tests only; reset_clock() puts it back)."""
    global _clock_offset
    _clock_offset += timedelta(seconds=seconds)


def reset_clock() -> None:
    global _clock_offset
    _clock_offset = timedelta(0)


def make_engine(url: str, **kw) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):
            # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred and
            # would deadlock writers that first read); see _sqlite_begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Writers take the write lock up front, so "read, then write" never fails with
            # SQLITE_BUSY half-way; read-only sessions use a deferred BEGIN.
            mode = "DEFERRED" if conn.get_execution_options().get("readonly") else "IMMEDIATE"
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    if "poolclass" not in kw:
        kw.update(pool_size=10, max_overflow=40)
    return create_engine(url, pool_pre_ping=True, **kw)


def dialect_insert(session: Session, table):
    """INSERT for the session's database with ON CONFLICT support (PostgreSQL's or SQLite's)."""
    from_dialect = _pg_insert if session.get_bind().dialect.name == "postgresql" else _sqlite_insert
    return from_dialect(table)


def get_engine() -> Engine:
    return current_app.extensions["linli.engine"]


class _Tx:
    def __init__(self, session: Session):
        self.session = session
        self.after_commit: list[Callable[[], None]] = []


_current: contextvars.ContextVar[_Tx | None] = contextvars.ContextVar("linli_tx", default=None)


@contextmanager
def transaction() -> Iterator[Session]:
    """One transaction per use case: commits on exit, rolls back on raise.

    Nested use joins the outer transaction (so a decorator such as idempotency can wrap the
    route's own transaction); only the outermost one commits and then runs after-commit hooks.
    """
    outer = _current.get()
    if outer is not None:
        yield outer.session
        return
    session = Session(get_engine(), expire_on_commit=False)
    tx = _Tx(session)
    token = _current.set(tx)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        tx.after_commit.clear()
        raise
    finally:
        _current.reset(token)
        session.close()
        for fn in tx.after_commit:
            _run_after_commit(fn)


def _run_after_commit(fn: Callable[[], None]) -> None:
    # The work is committed: a failing hook (Redis down for an enqueue or a push) must not turn
    # it into an error for the caller. It is logged, and the sweeps over rows in a known state
    # (unpaid orders, refunds) pick up what it would have started.
    try:
        fn()
    except Exception:
        log.exception("after-commit hook %s failed; the periodic sweeps cover it",
                      getattr(fn, "__qualname__", fn))


@contextmanager
def reading() -> Iterator[Session]:
    """A read-only session (never takes SQLite's write lock)."""
    engine = get_engine().execution_options(readonly=True)
    with Session(engine, expire_on_commit=False) as session:
        yield session  # close() ends the transaction without expiring loaded objects


def get_or_raise(session: Session, model, row_id: int, error: type[Exception] | Exception, what: str = "Row"):
    """The row, or the domain's own not-found error: an error class (its detail says "<what> <id>
    does not exist.") or an error made with its own detail."""
    row = session.get(model, row_id)
    if row is None:
        raise error if isinstance(error, BaseException) else error(f"{what} {row_id} does not exist.")
    return row


def apply_changes(session: Session, row, changes: dict):
    """A partial update (PATCH): set the given fields and flush."""
    for k, v in changes.items():
        setattr(row, k, v)
    session.add(row)
    session.flush()
    return row


# ---- faults: a database that cannot be reached, a transaction the database chose to abort ---------

# SQLSTATEs of a server that is not there for us: class 08 (connection exception), and shutting
# down, crashed or still starting (57P01..57P03). Class 40 (deadlock, serialization) is not.
_UNREACHABLE_STATES = ("57P01", "57P02", "57P03")
_CONFLICT_STATES = ("40001", "40P01")  # serialization_failure, deadlock_detected


def _sqlstate(e: BaseException) -> str | None:
    orig = getattr(e, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def database_unreachable(e: BaseException) -> bool:
    """The database could not be reached (refused, gone, restarting), as opposed to a statement
    it refused: the caller is told 503 with Retry-After, and the pool's pre-ping replaces the
    dead connections once it is back."""
    if not isinstance(e, DBAPIError):
        return False
    if e.connection_invalidated:
        return True
    state = _sqlstate(e)
    if state is not None:
        return state.startswith("08") or state in _UNREACHABLE_STATES
    # No SQLSTATE: psycopg's own connection failures (refused, reset, timed out), or SQLite's
    # file that cannot be opened.
    orig = e.orig
    if type(orig).__module__.startswith("psycopg"):
        return type(orig).__name__ in ("OperationalError", "InterfaceError")
    return "unable to open database" in str(orig)


def transaction_conflict(e: BaseException) -> bool:
    """PostgreSQL aborted the transaction to let another go on (deadlock, serialization failure):
    running the use case again from its start is safe and usually succeeds."""
    return isinstance(e, DBAPIError) and _sqlstate(e) in _CONFLICT_STATES


CONFLICT_ATTEMPTS = 4


def retry_conflicts(fn: Callable) -> Callable:
    """Run a use case again (up to CONFLICT_ATTEMPTS times in all, a few ms apart) when the
    database aborted its transaction as a deadlock's victim or a serialization failure. Only the
    outermost transaction retries: an inner one joins the outer, whose work is gone as a whole.
    What still fails is answered 503 with Retry-After (register_error_handlers), never a 500.
    Apply it outside anything that opens the transaction (e.g. above @idempotent)."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        if _current.get() is not None:
            return fn(*args, **kwargs)
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except DBAPIError as e:
                if attempt == CONFLICT_ATTEMPTS or not transaction_conflict(e):
                    raise
                log.warning("transaction aborted (%s), attempt %d of %d: running it again",
                            _sqlstate(e), attempt, CONFLICT_ATTEMPTS)
                time.sleep(random.uniform(0.005, 0.02) * attempt)
    return wrapper


def discard_after_commit() -> None:
    """Forget the hooks of work that was rolled back inside the current transaction."""
    tx = _current.get()
    if tx is not None:
        tx.after_commit.clear()


def after_commit(fn: Callable[[], None]) -> None:
    """Run fn once the current transaction commits (immediately if there is none)."""
    tx = _current.get()
    if tx is None:
        fn()  # nothing committed on the caller's behalf: its own error is its to handle
    else:
        tx.after_commit.append(fn)


from sqlalchemy.types import DateTime, TypeDecorator  # noqa: E402


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on SQLite (no zone support) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def ts_field(nullable: bool = True, index: bool = False, default_now: bool = False):
    """A UTC timestamp column for SQLModel tables."""
    from sqlalchemy import Column
    from sqlmodel import Field

    kw = {"default_factory": utcnow} if default_now else {"default": None}
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable and not default_now, index=index), **kw)
