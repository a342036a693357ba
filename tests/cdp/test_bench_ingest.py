"""`cjo bench ingest` runs end to end at a tiny size and reports the figures the issue names."""

from __future__ import annotations

from bench import ingest
from cdp.triggers import TriggerSet


def test_sqlite_case_reports_rates_ratio_and_latency() -> None:
    case = ingest._case("sqlite", 1, 200, TriggerSet(), latency=False)
    assert set(case) >= {"processed_events_per_s", "accepted_events_per_s", "accept_to_raw_ratio"}
    assert all(v > 0 for v in case.values())
