"""Journey test fixtures: a clock, fakes, and a runner factory on the test's database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from agents.journey.runner import JourneyRunner, RunnerOptions
from core.settings import Settings
from tests.graph.factories import Clock, Fakes, make_context


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


def settings_for(engine: Engine, data_dir: Path) -> Settings:
    url = engine.url.render_as_string(hide_password=False)
    database_url = url if engine.dialect.name == "postgresql" else None
    return Settings(data_dir=data_dir, environment="test", database_url=database_url)


@pytest.fixture
def make_runner(
    tmp_path: Path, clock: Clock, fakes: Fakes
) -> Iterator[Callable[[Engine], JourneyRunner]]:
    made: list[JourneyRunner] = []

    def build(engine: Engine, **options: object) -> JourneyRunner:
        opts = RunnerOptions(stale_after=timedelta(minutes=5), **options)  # type: ignore[arg-type]
        runner = JourneyRunner(
            make_context(engine, fakes, clock), settings_for(engine, tmp_path / "var"), opts
        )
        made.append(runner)
        return runner

    yield build
    for runner in made:
        assert runner.checkpointer is not None
        runner.checkpointer.close()  # closing twice (after stop()) is harmless
