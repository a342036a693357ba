"""The console's pure parts: journey graph reading, intervals, treated-vs-holdout figures."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from api.web.insights import collect, conversion_by_arm, mean_interval, wilson_interval
from api.web.journey_graph import parse_graph, render_svg
from core.clock import utcnow
from core.db import session_scope
from core.tables import Decision, Event, Review
from tests.browser.seed import JOURNEY_YAML


def test_graph_follows_rules_defaults_and_list_order() -> None:
    graph = parse_graph(JOURNEY_YAML)
    assert ("__trigger__", "reminder_email", "") in graph.edges
    assert ("reminder_email", "wait_1d", "") in graph.edges  # no explicit edge: falls through
    assert ("still_open", "nudge_sms", "open_cart.value ≥ 50") in graph.edges
    assert ("still_open", "done", "otherwise") in graph.edges
    assert not any(a == "done" for a, _, _ in graph.edges)  # an end step flows nowhere
    assert graph.nodes["nudge_sms"] == "nudge_sms (action: sms)"


def test_graph_reads_other_shapes_too() -> None:
    graph = parse_graph(
        "steps:\n  a: {type: decide, branches: {yes: b, no: c}}\n  b: {next: c}\n  c: {type: end}\n"
    )
    assert {(a, b) for a, b, _ in graph.edges} == {("a", "b"), ("a", "c"), ("b", "c")}


def test_graph_of_bad_yaml_says_why_and_draws_nothing() -> None:
    graph = parse_graph("steps: [unclosed")
    assert graph.error is not None and "does not parse" in graph.error
    assert render_svg(graph, "x") == ""


def test_svg_escapes_step_names() -> None:
    graph = parse_graph("steps:\n  - id: '<script>alert(1)</script>'\n")
    svg = str(render_svg(graph, "t"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_wilson_interval_brackets_the_rate_and_stays_in_bounds() -> None:
    low, high = wilson_interval(30, 100)
    assert low < 0.30 < high
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_mean_interval_shrinks_with_more_data() -> None:
    _, low_small, high_small = mean_interval([0.0, 10.0] * 5)
    _, low_big, high_big = mean_interval([0.0, 10.0] * 500)
    assert high_big - low_big < high_small - low_small


def test_conversion_counts_orders_within_seven_days_per_arm(sqlite_engine: Engine) -> None:
    now = utcnow()
    start = now - timedelta(days=20)
    with session_scope(sqlite_engine) as s:
        for cid, holdout in [("t1", False), ("t2", False), ("h1", True), ("h2", True)]:
            s.add(Decision(customer_id=cid, holdout=holdout, created_at=start))
        orders = [("t1", 2, 50.0), ("t2", 9, 80.0), ("h1", 1, 20.0)]  # t2 orders too late
        for i, (cid, day, revenue) in enumerate(orders):
            s.add(
                Event(
                    message_id=f"o{i}",
                    type="track",
                    event="Order Completed",
                    customer_id=cid,
                    timestamp=start + timedelta(days=day),
                    properties={"revenue": revenue},
                )
            )
    with session_scope(sqlite_engine) as s:
        treated, held_out = conversion_by_arm(s, now - timedelta(days=30))
    assert (treated.customers, treated.conversions, treated.revenue_mean) == (2, 1, 25.0)
    assert (held_out.customers, held_out.conversions, held_out.revenue_mean) == (2, 1, 10.0)


def test_dashboard_figures_count_pending_reviews_and_overdue(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as s:
        for minutes in (-5, 30):
            s.add(Review(customer_id="c", channel="sms", content={}, content_hash="h",
                         expires_at=utcnow() + timedelta(minutes=minutes)))  # fmt: skip
    with session_scope(sqlite_engine) as s:
        data = collect(s)
    assert len(data.queue_ages_min) == 2 and data.queue_overdue == 1
    assert data.totals["pending_reviews"] == 2
    assert len(data.days) == 30 and data.days[-1] == utcnow().date()


def test_llm_usage_counts_model_calls_and_their_tokens(sqlite_engine: Engine) -> None:
    from core import audit

    with session_scope(sqlite_engine) as s:
        audit.append(s, actor="agent:creative", kind="creative.written", payload={"source": "llm"})
        audit.append(s, actor="agent:creative", kind="creative.written",
                     payload={"source": "cache"})  # fmt: skip
        audit.append(s, actor="agent:chat", kind="chat.turn", payload={"usage": {"tokens": 120}})
        audit.append(s, actor="x", kind="other.thing", payload={"tokens": 999})
    with session_scope(sqlite_engine) as s:
        data = collect(s)
    assert (sum(data.llm_calls), sum(data.llm_tokens)) == (2, 120)


def _fragment(name: str, **values: object) -> str:
    from api.web.templating import _env

    return _env.get_template(name).render(**values)


def test_cold_start_drivers_show_their_reasons_not_a_zero_contribution() -> None:
    decision = {"action_id": "winback_email_10", "channel": "email", "policy_arm": "model"}
    cold = {
        "action_id": "winback_email_10",
        "score": 0.04,
        "top_features_source": "cold_start",
        "top_features": [
            {"feature": "churn_risk", "source": "eligibility_rule", "reason": "0.82 >= 0.6"},
            {"feature": "prior", "source": "catalog_prior", "reason": "catalog prior 0.04"},
        ],
    }
    learned = {
        "action_id": "winback_email_15",
        "score": 0.05,
        "top_features_source": "model",
        "top_features": [{"feature": "recency_days", "contribution": 0.0042}],
    }
    html = _fragment(
        "_explanation.html",
        decision=type(
            "D", (), {**decision, "holdout": False, "model_version": None, "trigger": None}
        ),
        explanation={"candidates": [cold, learned]},
    )
    assert re.search(r"[+-]0\.00\b", html) is None
    assert 'churn_risk <span class="muted">(0.82 &gt;= 0.6)</span>' in html
    assert "recency_days +0.004" in html
    assert html.count("no learned weights yet") == 1


def test_a_chain_broken_by_a_missing_entry_names_no_id() -> None:
    report = {"ok": False, "chain": "main", "entries": 4, "first_bad_seq": 3, "first_bad_id": None}
    html = _fragment("_chain.html", reports=[type("R", (), {**report, "reason": "gap"})])
    assert "entry #3 fails: gap" in html and "id None" not in html
