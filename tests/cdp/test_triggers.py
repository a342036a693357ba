"""Trigger rules: immediate, delayed-unless, threshold (with the churn scorer hook), staleness."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cdp.pipeline import drain, run_scheduler
from cdp.traits import set_churn_scorer
from cdp.triggers import DEFAULT_RULES_PATH, TriggerConfigError, TriggerSet, load_rules
from core.tables import TriggerFiring
from tests.cdp.factories import T0, identify, ingest, order, track

RULES = load_rules(DEFAULT_RULES_PATH)
NOW = T0 + timedelta(minutes=5)


def firings(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.exec(select(TriggerFiring)).all()
        return sorted((r.trigger, r.journey_slug) for r in rows)


@pytest.fixture
def scorer() -> Iterator[None]:
    def churn(traits: dict[str, Any]) -> float:
        return 0.9 if traits.get("recency_days", 0) > 30 else 0.1

    set_churn_scorer(churn)
    yield
    set_churn_scorer(None)


def test_cart_abandoned_fires_once_after_an_hour(engine: Engine) -> None:
    ingest(engine, track("Product Added", "c1", 0, price=12.0))
    drain(engine, now=NOW, rules=RULES)
    assert run_scheduler(engine, now=T0 + timedelta(minutes=59), rules=RULES) == 0
    assert run_scheduler(engine, now=T0 + timedelta(minutes=61), rules=RULES) == 1
    assert run_scheduler(engine, now=T0 + timedelta(minutes=90), rules=RULES) == 0
    assert firings(engine) == [("cart_abandoned", "cart-abandonment")]
    with Session(engine) as session:
        firing = session.exec(select(TriggerFiring)).one()
        assert firing.data["open_cart"]["value"] == 12.0


def test_order_completed_cancels_the_cart_trigger(engine: Engine) -> None:
    ingest(engine, track("Product Added", "c2", 0, price=12.0), order("c2", 30, 12.0))
    drain(engine, now=NOW, rules=RULES)
    run_scheduler(engine, now=T0 + timedelta(minutes=120), rules=RULES)
    assert ("cart_abandoned", "cart-abandonment") not in firings(engine)
    assert ("first_purchase", "onboarding") in firings(engine)


def test_first_purchase_fires_only_for_the_first_order(sqlite_engine: Engine) -> None:
    ingest(sqlite_engine, order("c3", 0), order("c3", 1), track("Trial Started", "c3", 2))
    drain(sqlite_engine, now=NOW, rules=RULES)
    assert firings(sqlite_engine) == [
        ("first_purchase", "onboarding"),
        ("trial_started", "trial-to-paid"),
    ]


def test_churn_risk_crossing_fires_winback(sqlite_engine: Engine, scorer: None) -> None:
    ingest(sqlite_engine, order("c4", 0), track("Page Viewed", "c4", 60 * 24 * 40))
    drain(sqlite_engine, now=T0 + timedelta(days=40), rules=RULES)
    assert ("churn_risk_high", "winback") in firings(sqlite_engine)
    ingest(sqlite_engine, track("Page Viewed", "c4", 60 * 24 * 41))
    drain(sqlite_engine, now=T0 + timedelta(days=41), rules=RULES)
    assert firings(sqlite_engine).count(("churn_risk_high", "winback")) == 1  # no re-crossing


def test_no_purchase_for_90_days_fires_winback(sqlite_engine: Engine) -> None:
    ingest(sqlite_engine, order("c5", 0))
    drain(sqlite_engine, now=NOW, rules=RULES)
    assert run_scheduler(sqlite_engine, now=T0 + timedelta(days=91), rules=RULES) == 1
    assert ("no_purchase_90d", "winback") in firings(sqlite_engine)


def test_old_occasions_are_not_fired(sqlite_engine: Engine) -> None:
    ingest(sqlite_engine, order("c6", 0), track("Product Added", "c6", 1))
    drain(sqlite_engine, now=T0 + timedelta(days=400), rules=RULES)
    assert run_scheduler(sqlite_engine, now=T0 + timedelta(days=400), rules=RULES) == 0
    assert firings(sqlite_engine) == []


def test_invalid_rule_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("triggers:\n  - name: x\n    journey: j\n    kind: after\n    event: A\n")
    with pytest.raises(
        TriggerConfigError, match=r"triggers\.0\.after\.after_minutes: Field required"
    ):
        load_rules(path)


def test_segment_entry_fires_when_a_trait_starts_matching(sqlite_engine: Engine) -> None:
    rules = TriggerSet.model_validate(
        {
            "triggers": [
                {
                    "name": "became_active",
                    "journey": "loyalty",
                    "kind": "threshold",
                    "trait": "lifecycle_stage",
                    "op": "==",
                    "value": "active",
                }
            ]
        }
    )
    ingest(sqlite_engine, order("s1", 0), order("s1", 1), order("s1", 2))
    drain(sqlite_engine, now=NOW, rules=rules)
    assert firings(sqlite_engine) == [("became_active", "loyalty")]


def test_cart_trigger_waits_for_an_accepted_order_that_is_not_processed_yet(
    engine: Engine,
) -> None:
    ingest(engine, track("Product Added", "c8", 0, price=12.0))
    drain(engine, now=NOW, rules=RULES)
    ingest(engine, order("c8", 10, 12.0))  # accepted before the job is due, still pending
    assert run_scheduler(engine, now=T0 + timedelta(minutes=61), rules=RULES) == 0
    drain(engine, now=NOW, rules=RULES)
    assert run_scheduler(engine, now=T0 + timedelta(minutes=61), rules=RULES) == 0
    assert ("cart_abandoned", "cart-abandonment") not in firings(engine)


def test_cart_trigger_is_not_held_by_pending_events_after_its_due_time(engine: Engine) -> None:
    ingest(engine, track("Product Added", "c9", 0, price=12.0))
    drain(engine, now=NOW, rules=RULES)
    ingest(engine, track("Page Viewed", "c9", 70))  # after the due time: cannot cancel it
    assert run_scheduler(engine, now=T0 + timedelta(minutes=71), rules=RULES) == 1
    assert firings(engine) == [("cart_abandoned", "cart-abandonment")]


def test_an_addition_processed_after_the_order_that_followed_it_schedules_nothing(
    engine: Engine,
) -> None:
    ingest(engine, order("c10", 30, 12.0))
    drain(engine, now=NOW, rules=RULES)
    ingest(engine, track("Product Added", "c10", 0, price=12.0))  # happened first, came late
    drain(engine, now=NOW, rules=RULES)
    assert run_scheduler(engine, now=T0 + timedelta(minutes=120), rules=RULES) == 0
    assert ("cart_abandoned", "cart-abandonment") not in firings(engine)


def test_an_older_order_processed_late_keeps_the_wait_from_the_newest(engine: Engine) -> None:
    ingest(engine, order("c11", 60 * 24, 5.0))
    drain(engine, now=NOW, rules=RULES)
    ingest(engine, order("c11", 0, 5.0))
    drain(engine, now=NOW, rules=RULES)
    day_91 = T0 + timedelta(days=91)
    assert run_scheduler(engine, now=day_91 - timedelta(minutes=1), rules=RULES) == 0
    assert run_scheduler(engine, now=day_91 + timedelta(minutes=1), rules=RULES) == 1


def test_a_merge_keeps_the_newer_wait_of_the_two_customers(engine: Engine) -> None:
    anon_add = track("Product Added", None, 20, price=9.0)
    anon_add["anonymousId"] = "anon-c12"
    ingest(engine, order("c12", 0, 5.0), anon_add)  # c12 has a cancelled cart row already
    drain(engine, now=NOW, rules=RULES)
    ingest(engine, identify("c12", 30, anon="anon-c12"))  # the anonymous cart is c12's
    drain(engine, now=NOW, rules=RULES)
    assert run_scheduler(engine, now=T0 + timedelta(minutes=81), rules=RULES) == 1
    assert ("cart_abandoned", "cart-abandonment") in firings(engine)


def _daily_scheduler(engine: Engine, days: range, rules: TriggerSet = RULES) -> list[int]:
    """A scheduler that runs once a day, as a live one does (every second) from day to day."""
    return [run_scheduler(engine, now=T0 + timedelta(days=d), rules=rules) for d in days]


def test_churn_risk_crossing_fires_with_time_alone(engine: Engine, scorer: None) -> None:
    ingest(engine, order("c13", 0))
    drain(engine, now=NOW, rules=RULES)
    assert firings(engine) == [("first_purchase", "onboarding")]
    fired = _daily_scheduler(engine, range(1, 40))
    assert fired[29] == 0 and fired[30] == 1 and sum(fired) == 1  # recency 31 days: 0.9
    ingest(engine, track("Page Viewed", "c13", 60 * 24 * 40))  # comes back, still at risk
    drain(engine, now=T0 + timedelta(days=40), rules=RULES)
    assert firings(engine).count(("churn_risk_high", "winback")) == 1


def test_segment_entry_fires_with_time_alone(sqlite_engine: Engine) -> None:
    rules = TriggerSet.model_validate(
        {
            "triggers": [
                {
                    "name": "became_at_risk",
                    "journey": "winback",
                    "kind": "threshold",
                    "trait": "lifecycle_stage",
                    "op": "==",
                    "value": "at_risk",
                }
            ]
        }
    )
    ingest(sqlite_engine, order("s2", 0))
    drain(sqlite_engine, now=NOW, rules=rules)
    fired = _daily_scheduler(sqlite_engine, range(1, 100), rules)
    assert fired.index(1) == 90 and sum(fired) == 1  # day 91: more than 90 days since


def test_a_replay_does_not_fire_crossings_that_time_made_long_ago(
    sqlite_engine: Engine, scorer: None
) -> None:
    ingest(sqlite_engine, order("c14", 0))
    drain(sqlite_engine, now=T0 + timedelta(days=400), rules=RULES)
    assert sum(_daily_scheduler(sqlite_engine, range(400, 410))) == 0
    assert ("churn_risk_high", "winback") not in firings(sqlite_engine)


def test_the_scheduler_works_through_a_backlog_in_bounded_passes(sqlite_engine: Engine) -> None:
    ingest(sqlite_engine, *(order(f"b{i}", 0) for i in range(5)))  # 5 re-checks due first
    ingest(sqlite_engine, track("Product Added", "b9", 60 * 24 * 2, price=1.0))
    drain(sqlite_engine, now=T0 + timedelta(days=2), rules=RULES)
    later = T0 + timedelta(days=2, hours=2)
    assert run_scheduler(sqlite_engine, now=later, rules=RULES, limit=2) == 1
    assert ("cart_abandoned", "cart-abandonment") in firings(sqlite_engine)
