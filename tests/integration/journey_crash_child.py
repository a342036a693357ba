"""Child process of the journey crash test: drive every journey run to its end, then exit 0.

Run as `python -m tests.integration.journey_crash_child DATABASE_URL DATA_DIR`. The parent
SIGKILLs it at random moments and starts it again; each start recovers what the last left.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, func, select

from agents.journey.runner import JourneyRunner, RunnerOptions
from core.clock import utcnow
from core.db import make_engine, session_scope
from core.settings import Settings
from core.tables import JourneyRun, TriggerFiring
from tests.graph.factories import Clock, Fakes, make_context


def unfinished(engine: object) -> int:
    with session_scope(engine) as session:  # type: ignore[arg-type]
        open_runs = session.exec(
            select(func.count()).select_from(JourneyRun).where(JourneyRun.status != "completed")
        ).one()
        waiting_firings = session.exec(
            select(func.count())
            .select_from(TriggerFiring)
            .where(col(TriggerFiring.consumed_at).is_(None))
        ).one()
    return int(open_runs) + int(waiting_firings)


def main(url: str, data_dir: str) -> None:
    engine = make_engine(url)
    fakes = Fakes(profiles={f"c{i}": {"computed": {"monetary": 1000}} for i in range(0, 100, 3)})
    clock = Clock()
    clock.at = utcnow()
    database_url = url if url.startswith("postgresql") else None
    settings = Settings(data_dir=Path(data_dir), environment="test", database_url=database_url)
    # stale_after=0: any run still marked running was left by the process we replaced
    runner = JourneyRunner(
        make_context(engine, fakes, clock), settings, RunnerOptions(stale_after=timedelta(0))
    )
    print("ready", flush=True)
    for _ in range(200):
        clock.at = utcnow()
        runner.run_once()
        if unfinished(engine) == 0:
            sys.exit(0)
    sys.exit(3)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
