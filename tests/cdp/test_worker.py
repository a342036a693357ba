"""The in-process worker processes what the API accepted and fires due triggers."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from cdp.pipeline import drain, run_scheduler
from cdp.profiles import get_profile_view
from cdp.tables import ScheduledTrigger
from cdp.triggers import TriggerSet
from cdp.worker import InProcessWorker
from cli.main import app
from core.clock import utcnow
from core.db import make_engine, migrate
from core.tables import TriggerFiring
from tests.cdp.factories import ingest, order, track


async def test_worker_processes_accepted_events(sqlite_engine: Engine) -> None:
    worker = InProcessWorker(sqlite_engine, rules=TriggerSet())
    await worker.start()
    ingest(sqlite_engine, order("w1", 0, 3.0), order("w1", 1, 4.0))
    for _ in range(200):
        if worker.processed >= 2:
            break
        await asyncio.sleep(0.02)
    await worker.stop()
    with Session(sqlite_engine) as session:
        view = get_profile_view(session, "w1")
    assert view is not None and view.computed["order_value"] == 7.0


def _cart_left_two_hours_ago(engine: Engine, user: str) -> None:
    message = track("Product Added", user, 0, price=20.0)
    message["timestamp"] = (utcnow() - timedelta(hours=2)).isoformat()
    ingest(engine, message)


def test_cjo_worker_without_a_stream_fires_due_triggers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import get_settings

    url = f"sqlite:///{tmp_path / 'worker.db'}"
    engine = make_engine(url)
    migrate(engine)
    _cart_left_two_hours_ago(engine, "w2")
    monkeypatch.setenv("CJO_DATABASE_URL", url)
    monkeypatch.delenv("CJO_STREAM_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["worker", "--exit-after-idle", "0.5"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        fired = session.exec(select(TriggerFiring)).all()
    assert [f.trigger for f in fired] == ["cart_abandoned"]
    engine.dispose()


def test_schedulers_in_parallel_fire_each_due_job_once(engine: Engine) -> None:
    for i in range(40):
        _cart_left_two_hours_ago(engine, f"par{i}")
    drain(engine)
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def scheduler() -> None:
        barrier.wait()
        counts.append(run_scheduler(engine))

    threads = [threading.Thread(target=scheduler) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with Session(engine) as session:
        fired = session.exec(select(TriggerFiring)).all()
        jobs = session.exec(select(ScheduledTrigger)).all()
    assert sum(counts) == 40 and len(fired) == 40
    assert sorted({j.status for j in jobs if j.rule == "cart_abandoned"}) == ["fired"]
