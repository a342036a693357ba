"""Conversation memory: the LangGraph checkpointer beside the configured database.

SQLite deployments keep chat threads in `<data_dir>/chat-memory.sqlite` (SqliteSaver);
PostgreSQL deployments keep them in the same database (PostgresSaver, its own tables).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy.engine import Engine

from core.settings import Settings

__all__ = ["make_checkpointer", "open_checkpointer"]


def make_checkpointer(
    settings: Settings, engine: Engine
) -> tuple[BaseCheckpointSaver[str], Callable[[], None]]:
    """A ready checkpointer for chat threads and the function that closes it."""
    if engine.dialect.name == "postgresql":
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        pool = ConnectionPool(
            url,
            min_size=1,
            max_size=4,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )
        saver = PostgresSaver(pool)  # type: ignore[arg-type]
        saver.setup()
        return saver, pool.close
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = settings.ensure_data_dir() / "chat-memory.sqlite"
    conn = sqlite3.connect(str(path), check_same_thread=False)
    return SqliteSaver(conn), conn.close


@contextmanager
def open_checkpointer(settings: Settings, engine: Engine) -> Iterator[BaseCheckpointSaver[str]]:
    """`make_checkpointer` as a block that closes it at the end."""
    saver, close = make_checkpointer(settings, engine)
    try:
        yield saver
    finally:
        close()
