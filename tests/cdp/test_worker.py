"""The in-process worker processes what the API accepted and fires due triggers."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cdp.profiles import get_profile_view
from cdp.triggers import TriggerSet
from cdp.worker import InProcessWorker
from tests.cdp.factories import ingest, order


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
