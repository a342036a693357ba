"""`cjo bench ingest` runs end to end at a tiny size and reports the figures the issue names."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from bench import ingest
from cdp.triggers import TriggerSet


def test_sqlite_case_reports_rates_ratio_and_latency() -> None:
    case = ingest._case("sqlite", 1, 200, TriggerSet(), latency=False)
    assert set(case) >= {"processed_events_per_s", "accepted_events_per_s", "accept_to_raw_ratio"}
    assert all(v > 0 for v in case.values())


def test_visibility_is_measured_until_a_reader_sees_the_event_processed(
    sqlite_engine: Engine,
) -> None:
    latencies = ingest._visibility(sqlite_engine, 100, 0.3, TriggerSet())
    assert len(latencies) == 30 and all(ms >= 0 for ms in latencies)
