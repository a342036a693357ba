"""Database engine, sessions and migrations, for SQLite (embedded) and PostgreSQL (scale).

SQLite runs in WAL mode and every transaction starts with `BEGIN IMMEDIATE`: SQLite allows one
writer at a time anyway, and taking the write lock up front turns "read, then write" races into
a short wait instead of a `database is locked` error half-way through. Commits are fsynced
(`synchronous=FULL`, CJO_SQLITE_SYNCHRONOUS): an accepted event must survive a power loss once
the API has answered 2xx; in WAL mode NORMAL can lose the last commits.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from core.settings import get_settings

__all__ = [
    "DOMAIN_PACKAGES",
    "is_postgres",
    "load_all_tables",
    "make_engine",
    "migrate",
    "session_scope",
]

REPO_ROOT = Path(__file__).resolve().parent.parent

# Packages that may own tables (`<pkg>/tables.py`) and migrations (`<pkg>/migrations/versions`).
DOMAIN_PACKAGES = ("core", "cdp", "decisioning", "agents", "tools", "guardrails", "brand", "api")


def load_all_tables() -> type[SQLModel]:
    """Import every `<pkg>.tables` module so SQLModel.metadata knows all tables."""
    for package in DOMAIN_PACKAGES:
        name = f"{package}.tables"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    return SQLModel


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(
    url: str, *, read_only: bool = False, synchronous: str | None = None, **kwargs: Any
) -> Engine:
    """Create an engine with the pragmas/pool settings cjo relies on.

    JSON columns go through orjson: events, profiles and audit payloads are JSON, and the
    standard library's codec was the largest single cost of event processing.

    Args:
        synchronous: SQLite only, `FULL` or `NORMAL`; default the `sqlite_synchronous` setting.
    """
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _configure_sqlite(engine, read_only=read_only, synchronous=_synchronous(synchronous))
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _synchronous(requested: str | None) -> str:
    if requested is None:
        return get_settings().sqlite_synchronous
    value = requested.strip().upper()
    if value not in _SYNCHRONOUS:
        raise ValueError(f"synchronous must be FULL or NORMAL, not {requested!r}")
    return value


_SYNCHRONOUS = frozenset({"FULL", "NORMAL"})


def _configure_sqlite(engine: Engine, *, read_only: bool, synchronous: str) -> None:
    """WAL, and who takes the write lock: writers at BEGIN, readers never.

    A read-only engine (the API's GET requests) begins deferred transactions on a `query_only`
    connection: WAL readers see a consistent snapshot without waiting for a writer.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")  # one of _SYNCHRONOUS
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        if read_only:
            cur.execute("PRAGMA query_only=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str) -> Any:
    """Alembic config with one version folder per package that has migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(REPO_ROOT / "core" / "migrations"))
    locations = [
        str(REPO_ROOT / pkg / "migrations" / "versions")
        for pkg in DOMAIN_PACKAGES
        if (REPO_ROOT / pkg / "migrations" / "versions").is_dir()
    ]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision of every package branch (`upgrade heads`)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")
