"""Database engines: SQLite readers never wait for the writer's lock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import make_engine


def test_read_only_engine_reads_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rw.db'}"
    writer, reader = make_engine(url), make_engine(url, read_only=True)
    with writer.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    holding, release = threading.Event(), threading.Event()

    def hold_write_lock() -> None:
        with writer.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold_write_lock)
    thread.start()
    holding.wait(10)
    try:
        with reader.begin() as conn:  # does not wait for the writer: sees the last commit
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
            with pytest.raises(Exception, match="readonly"):
                conn.execute(text("INSERT INTO t VALUES (3)"))
    finally:
        release.set()
        thread.join()
