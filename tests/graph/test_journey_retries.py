"""A run stopped by a transient error is retried with backoff (audited), then fails for good."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from agents.journey.runner import JourneyRunner
from core.db import session_scope
from core.tables import AuditEntry, JourneyRun
from tests.graph.factories import ONE_STEP, Clock, Fakes, add_journey, fire, outbox

MakeRunner = Callable[..., JourneyRunner]


def _run(engine: Engine) -> JourneyRun:
    with session_scope(engine) as session:
        return session.exec(select(JourneyRun)).one()


def _audit(engine: Engine, kind: str) -> list[dict[str, object]]:
    with session_scope(engine) as session:
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.kind == kind).order_by(col(AuditEntry.seq))
        ).all()
        return [e.payload for e in entries]


def _endpoint_down() -> httpx.ConnectError:
    return httpx.ConnectError("model endpoint unreachable")


def test_transient_error_is_retried_with_backoff_and_the_run_completes(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    fakes.creative_errors = [_endpoint_down(), _endpoint_down()]
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    runner = make_runner(sqlite_engine)
    runner.run_until_idle()
    run = _run(sqlite_engine)
    assert run.status == "retrying" and run.wake_at is not None
    assert run.wake_at == clock.now() + timedelta(seconds=30)
    assert runner.run_until_idle().retried == 0  # not before its time

    clock.advance(seconds=30)
    runner.run_until_idle()
    assert _run(sqlite_engine).wake_at == clock.now() + timedelta(seconds=60)  # backoff doubles
    clock.advance(seconds=60)
    stats = runner.run_until_idle()
    assert stats.retried == 1 and stats.completed == 1
    assert _run(sqlite_engine).status == "completed"
    assert len(outbox(sqlite_engine)) == 1
    retries = _audit(sqlite_engine, "journey.run_retry_scheduled")
    assert [(r["attempt"], r["wait_s"]) for r in retries] == [(1, 30.0), (2, 60.0)]
    assert "ConnectError" in str(retries[0]["error"])


def test_transient_error_that_outlasts_the_retries_fails_the_run(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    fakes.creative_errors = [_endpoint_down() for _ in range(10)]
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    runner = make_runner(sqlite_engine)
    for _ in range(5):
        runner.run_until_idle()
        clock.advance(minutes=15)
    assert _run(sqlite_engine).status == "failed"
    assert len(_audit(sqlite_engine, "journey.run_retry_scheduled")) == 3
    [failed] = _audit(sqlite_engine, "journey.run_failed")
    assert failed["retries"] == 3 and failed["transient"] is True
    assert outbox(sqlite_engine) == []


def test_a_logic_error_fails_at_once(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    fakes.creative_errors = [ValueError("creative: bad template")]
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    make_runner(sqlite_engine).run_until_idle()
    assert _run(sqlite_engine).status == "failed"
    assert _audit(sqlite_engine, "journey.run_retry_scheduled") == []
    [failed] = _audit(sqlite_engine, "journey.run_failed")
    assert failed["transient"] is False and "bad template" in str(failed["error"])
