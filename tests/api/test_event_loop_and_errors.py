"""The API stays responsive while a request waits for SQLite's write lock; unexpected errors
answer a uniform JSON 500 with the request id and no stack trace."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from api.routes import ingest as ingest_routes
from core.keys import Role
from core.settings import Settings
from tests.conftest import auth


def _hold_write_lock(engine: Engine, holding: threading.Event, release: threading.Event) -> None:
    """Another connection (a worker, an import) holding SQLite's single write lock."""
    raw = engine.raw_connection()  # a DBAPI connection: no "begin" event fires for it
    try:
        cur = raw.cursor()
        cur.execute("BEGIN IMMEDIATE")
        holding.set()
        release.wait(60)
        cur.execute("ROLLBACK")
        cur.close()
    finally:
        raw.close()


def test_health_answers_while_an_ingest_waits_for_the_sqlite_write_lock(
    client: TestClient,
    role_keys: dict[Role, str],
    sqlite_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entered, holding, release = threading.Event(), threading.Event(), threading.Event()
    accept_one = ingest_routes._accept_one

    def marked(*args: Any) -> Any:  # the handler is about to wait for the write lock
        entered.set()
        return accept_one(*args)

    monkeypatch.setattr(ingest_routes, "_accept_one", marked)

    holder = threading.Thread(target=_hold_write_lock, args=(sqlite_engine, holding, release))
    holder.start()
    assert holding.wait(10)
    answers: dict[str, Any] = {}

    def ingest() -> None:
        answers["track"] = client.post(
            "/v1/track",
            json={"userId": "u1", "event": "Product Added", "messageId": "lock-1"},
            headers=auth(role_keys[Role.service]),
        )

    writer = threading.Thread(target=ingest)
    writer.start()
    try:
        assert entered.wait(10), "the ingest request never reached the database"
        prober = threading.Thread(target=lambda: answers.update(health=client.get("/health")))
        prober.start()
        prober.join(20)  # a deadlock guard, not a timing claim: the lock stays held meanwhile
        assert "health" in answers, "/health did not answer while the write lock was held"
        assert answers["health"].json() == {"status": "ok"}
        assert "track" not in answers  # the ingest is still waiting for the lock
    finally:
        release.set()
        holder.join()
        writer.join(60)
    assert answers["track"].status_code == 202


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def failing_client(settings: Settings, sqlite_engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings, engine=sqlite_engine, run_migrations=False)
    broken = APIRouter()

    @broken.get("/v1/_broken")
    def _broken() -> None:
        raise RuntimeError("database password is hunter2")

    app.include_router(broken)
    with TestClient(app) as test_client:
        yield test_client


def test_unexpected_error_is_a_uniform_500_with_the_request_id(
    failing_client: TestClient,
) -> None:
    records = _Records()
    logger = logging.getLogger("cjo.errors")
    logger.addHandler(records)
    try:
        resp = failing_client.get("/v1/_broken", headers={"X-Request-ID": "req-500"})
    finally:
        logger.removeHandler(records)
    assert resp.status_code == 500
    assert resp.headers["x-request-id"] == "req-500"
    body = resp.json()
    assert body["request_id"] == "req-500"
    assert body["error"]["code"] == "internal_error"
    assert "hunter2" not in resp.text and "Traceback" not in resp.text
    (logged,) = records.records
    assert logged.exc_info is not None and "hunter2" in str(logged.exc_info[1])
