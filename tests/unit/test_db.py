"""Database engines: SQLite readers never wait for the writer's lock; commits are fsynced."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from core.db import make_engine
from core.settings import get_settings


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


def _synchronous(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar() or -1)


def test_sqlite_commits_are_fsynced_by_default(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    assert _synchronous(engine) == 2  # FULL: an answered event survives a power loss
    engine.dispose()


def test_normal_synchronous_is_an_explicit_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _synchronous(make_engine(f"sqlite:///{tmp_path / 'a.db'}", synchronous="normal")) == 1
    monkeypatch.setenv("CJO_SQLITE_SYNCHRONOUS", "NORMAL")
    get_settings.cache_clear()
    try:
        assert _synchronous(make_engine(f"sqlite:///{tmp_path / 'b.db'}")) == 1
        monkeypatch.setenv("CJO_SQLITE_SYNCHRONOUS", "OFF")
        get_settings.cache_clear()
        with pytest.raises(ValueError, match="sqlite_synchronous"):
            get_settings()
    finally:
        get_settings.cache_clear()
    with pytest.raises(ValueError, match="FULL or NORMAL"):
        make_engine(f"sqlite:///{tmp_path / 'c.db'}", synchronous="OFF")
