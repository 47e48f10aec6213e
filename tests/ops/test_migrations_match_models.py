"""The schema the migrations build is the schema the models describe, on both databases: a
migration merged from one branch cannot silently undo another's index or constraint."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import app.models  # noqa: F401 - every table on the metadata
from app.db import metadata


def test_the_migrated_schema_is_the_models_schema(make_settings):
    engine = create_engine(make_settings().database_url)
    try:
        with engine.connect() as c:
            diff = compare_metadata(MigrationContext.configure(c), metadata)
    finally:
        engine.dispose()
    assert diff == []
