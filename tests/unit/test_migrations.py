"""The Alembic migrations build exactly the schema the SQLModel tables describe.

A model change without its migration would pass every test that creates tables from the
models, and fail on a user's database at start-up; this catches it on both backends.
"""

from __future__ import annotations

from collections.abc import Mapping

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from core.db import load_all_tables


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    metadata = load_all_tables().metadata
    ours = set(metadata.tables)

    def owned(name: str | None, kind: str, parent: Mapping[str, str | None]) -> bool:
        """Skip tables other libraries keep in the same database (LangGraph's checkpoints)."""
        if kind == "schema":
            return True
        table = name if kind == "table" else parent.get("table_name")
        return table in ours

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": owned}
        )
        diffs = compare_metadata(context, metadata)
    assert diffs == []
