"""Shared fixtures: migrated databases (SQLite and the local PostgreSQL), an app, role keys.

`engine` runs a test on both SQLite and PostgreSQL; `sqlite_engine` / `pg_engine` pick one.
Each SQLite test gets a copy of one migrated template file; PostgreSQL tests share one
database per session and have every table emptied after each test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from core.db import load_all_tables, make_engine, migrate, session_scope
from core.keys import Role, create_key
from core.settings import Settings
from decisioning.holdout import get_decisioning_settings

# One audit key for the test process and every `cjo` subprocess it starts (they inherit the
# environment), so chain heads sealed in one verify in the other; tests of the key file itself
# unset it.
os.environ.setdefault("CJO_AUDIT_KEY", "test-audit-key-not-secret-0123456789")

PG_ADMIN_DSN = os.environ.get("CJO_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True)
def no_exploration(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Decisions without epsilon exploration unless a test asks for it.

    With the default epsilon the model arm now and then explores on purpose, "do nothing"
    included, from a seed that holds the clock and a random run id: a test expecting the best
    action would fail at random. Exploration is tested with explicit policies in
    tests/decisioning; tests that need another setting set `CJO_DECISIONING_*` themselves.
    """
    monkeypatch.setenv("CJO_DECISIONING_EPSILON", "0")
    get_decisioning_settings.cache_clear()
    yield
    get_decisioning_settings.cache_clear()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "cjo.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"cjo_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_DSN}: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{url}/{name}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    tables = [t.name for t in load_all_tables().metadata.sorted_tables]
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    return request.getfixturevalue(name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", environment="test")


@pytest.fixture
def role_keys(sqlite_engine: Engine) -> dict[Role, str]:
    with session_scope(sqlite_engine) as session:
        return {
            role: create_key(session, role=role, name=f"test-{role.value}").key for role in Role
        }


@pytest.fixture
def client(settings: Settings, sqlite_engine: Engine) -> Iterator[TestClient]:
    from api.app import create_app

    app = create_app(settings, engine=sqlite_engine, run_migrations=False)
    with TestClient(app) as test_client:
        yield test_client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
