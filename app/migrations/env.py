"""Alembic environment: the URL comes from Settings (LINLI_DATABASE_URL) or the caller's config."""
from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from app.db import make_engine, metadata
from app.models import load_all

load_all()
config = context.config


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connectable)


def _run(connection) -> None:
    # Batch mode lets ALTERs run on SQLite (copy-and-move), and is harmless on PostgreSQL. The
    # copy-and-move drops and recreates a table that other rows reference (orders), which SQLite
    # refuses while foreign keys are enforced and the table holds data (a downgrade with data), so
    # they are off while migrations run, as SQLite's ALTER TABLE guide says. The pragma only takes
    # effect outside a transaction, and SQLAlchemy would open one (app.db's BEGIN IMMEDIATE) for any
    # statement it runs, so it goes straight to the driver's connection (autocommit, see app.db).
    sqlite = connection.dialect.name == "sqlite" and not connection.in_transaction()
    if sqlite:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
