"""The chat eval runs end to end on a few cases and reports the metric names the issue asks for."""

from __future__ import annotations

from evals.suites.chat import args_match, load_cases, run


def test_dataset_has_at_least_60_requests_with_refusals() -> None:
    cases = load_cases()
    assert len(cases) >= 60
    assert sum(c.refusal for c in cases) >= 10


def test_argument_match_is_case_insensitive_and_supports_contains() -> None:
    assert args_match({"target": "SMS"}, {"target": "sms", "scope": "channel"})
    assert args_match({"goal": "~win-back journey"}, {"goal": "a Win back journey for VIPs"})
    assert not args_match({"customer_id": "1042"}, {"customer_id": "1043"})


def test_tiny_run_reports_the_issue_metrics() -> None:
    report = run(limit=6, backends=("rules_only",)).as_dict()
    for name in ("tool_accuracy", "argument_accuracy", "refusal_accuracy", "fully_correct_rate"):
        assert 0.0 <= report["metrics"][f"rules_only_{name}"] <= 1.0
    assert report["metrics"]["cases"] == 6
