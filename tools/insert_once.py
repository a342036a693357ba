"""Insert a row unless one with the same unique key exists: ON CONFLICT DO NOTHING.

Both PostgreSQL and SQLite (3.24+) support `INSERT ... ON CONFLICT DO NOTHING`, which is the
only race-free way to "create if absent" under concurrency: a select-then-insert lets two
writers both see "absent" (on PostgreSQL, where writers do not queue up front like SQLite's
`BEGIN IMMEDIATE`) and one of them would fail with an integrity error.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

__all__ = ["insert_if_absent"]


def insert_if_absent(
    session: Session, table: type[SQLModel], values: dict[str, Any], conflict_on: list[str]
) -> bool:
    """Insert `values` into `table` in the caller's transaction; True when a row was created.

    `conflict_on` names the columns of the unique constraint that identifies the row.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    sa_table = table.__table__  # type: ignore[attr-defined]
    statement = (
        insert(sa_table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_on)
        .returning(*sa_table.primary_key.columns)
    )
    # RETURNING yields a row only when the insert happened (rowcount is unreliable here).
    return session.execute(statement).first() is not None
