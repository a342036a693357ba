"""Graph checkpoint savers: SqliteSaver (a file in data_dir) by default, PostgresSaver at scale.

The saver follows the application database: when CJO_DATABASE_URL points at PostgreSQL the
checkpoints go there too (tables created by `.setup()`); otherwise a separate SQLite file
`<data_dir>/checkpoints.db` keeps graph state beside the main SQLite database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from core.settings import Settings

__all__ = ["Checkpointer", "make_checkpointer", "postgres_conninfo"]


@dataclass
class Checkpointer:
    """A ready saver and how to release what it holds (connection or pool)."""

    saver: BaseCheckpointSaver[Any]
    close: Callable[[], None]
    kind: str


def postgres_conninfo(url: str) -> str:
    """SQLAlchemy's `postgresql+psycopg://` URL as the plain libpq URL psycopg takes."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def make_checkpointer(settings: Settings, *, sqlite_path: Path | None = None) -> Checkpointer:
    """Open the saver matching the configured database (and create its tables)."""
    url = settings.resolved_database_url
    if url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        pool: ConnectionPool[Any] = ConnectionPool(
            postgres_conninfo(url),
            min_size=1,
            max_size=8,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
            open=True,
        )
        pg_saver = PostgresSaver(pool)
        pg_saver.setup()
        return Checkpointer(pg_saver, pool.close, "postgres")

    from langgraph.checkpoint.sqlite import SqliteSaver

    path = sqlite_path or settings.ensure_data_dir() / "checkpoints.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    conn.execute("PRAGMA busy_timeout=30000")
    saver = SqliteSaver(conn)
    saver.setup()  # WAL mode and tables
    # A commit is durable in WAL with synchronous=NORMAL except on power loss; a process
    # SIGKILL (what the crash test does) never loses a committed checkpoint.
    conn.execute("PRAGMA synchronous=NORMAL")
    return Checkpointer(saver, conn.close, "sqlite")
