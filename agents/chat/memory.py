"""Conversation memory: the LangGraph checkpointer beside the configured database.

SQLite deployments keep chat threads in `<data_dir>/chat-memory.sqlite` (SqliteSaver);
PostgreSQL deployments keep them in the same database (PostgresSaver, its own tables).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy.engine import Engine

from core.settings import Settings

__all__ = ["open_checkpointer"]


@contextmanager
def open_checkpointer(settings: Settings, engine: Engine) -> Iterator[BaseCheckpointSaver[str]]:
    """A ready checkpointer for chat threads; closed when the block ends."""
    if engine.dialect.name == "postgresql":
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row

        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(
            url, autocommit=True, prepare_threshold=0, row_factory=dict_row
        ) as conn:
            saver = PostgresSaver(conn)  # type: ignore[arg-type]
            saver.setup()
            yield saver
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = settings.ensure_data_dir() / "chat-memory.sqlite"
    conn = sqlite3.connect(str(path), check_same_thread=False)
    try:
        yield SqliteSaver(conn)
    finally:
        conn.close()
