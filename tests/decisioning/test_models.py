"""Churn model, BG/NBD baseline, OPE estimators, timing, holdout hashing, eval and bench."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from core.domain import ProfileView
from decisioning.bgnbd import BgNbd
from decisioning.churn import ChurnModel, load_or_train
from decisioning.holdout import in_global_control, in_journey_holdout
from decisioning.metrics import auc, expected_calibration_error
from decisioning.ope import OffPolicyData, estimate_all
from decisioning.timing import best_send_time, preferred_channel


@pytest.fixture(scope="module")
def churn_model(tmp_path_factory: pytest.TempPathFactory) -> ChurnModel:
    return load_or_train(tmp_path_factory.mktemp("var"))


def test_churn_risk_rises_with_recency_and_falls_with_orders(churn_model: ChurnModel) -> None:
    recent = churn_model.score({"recency_days": 5, "order_count": 8, "monetary": 400})
    lapsed = churn_model.score({"recency_days": 250, "order_count": 1, "monetary": 15})
    assert 0 < recent < lapsed < 1
    explained = churn_model.explain({"recency_days": 250, "order_count": 1})
    assert explained["score"] == pytest.approx(lapsed, abs=0.2)
    assert len(explained["contributions"]) == 3


def test_churn_model_is_cached_as_json_and_reloaded(
    churn_model: ChurnModel, tmp_path: Path
) -> None:
    first = load_or_train(tmp_path)
    stored = json.loads((tmp_path / "models" / "churn_cdnow_v1.json").read_text())
    assert stored["coef"] == list(first.coef)
    assert load_or_train(tmp_path).version == first.version == churn_model.version


def test_churn_score_tolerates_missing_traits(churn_model: ChurnModel) -> None:
    assert 0 < churn_model.score({}) < 1
    assert 0 < churn_model.score({"recency_days": "n/a", "first_order_at": "bad"}) < 1


def test_bgnbd_recovers_a_quiet_customer_as_more_likely_churned() -> None:
    rng = np.random.default_rng(0)
    x = rng.poisson(2, 500).astype(float)
    big_t = np.full(500, 30.0)
    t_x = np.where(x > 0, rng.uniform(1, 30, 500), 0.0)
    model = BgNbd.fit(x, t_x, big_t)
    quiet, active = model.p_churn(
        np.array([3.0, 3.0]), np.array([2.0, 29.0]), np.array([30.0, 30.0]), 39.0
    )
    assert quiet > active


def test_auc_and_calibration_on_known_cases() -> None:
    y = np.array([0, 0, 1, 1])
    assert auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert expected_calibration_error(y, np.array([0.0, 0.0, 1.0, 1.0])) == 0.0


def test_ips_of_the_logging_policy_equals_the_logged_mean() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    rewards = (rng.random(n) < 0.1).astype(float)
    p = np.full(n, 0.25)
    data = OffPolicyData(rewards, p, p.copy(), np.full(n, 0.1), np.full(n, 0.1))
    est = estimate_all(data, n_boot=200)
    assert est["ips"].value == pytest.approx(rewards.mean())
    assert est["snips"].value == pytest.approx(rewards.mean())
    for interval in est.values():
        assert interval.lo <= interval.value <= interval.hi


def test_off_policy_data_refuses_misaligned_arrays() -> None:
    with pytest.raises(ValueError, match="pscore"):
        OffPolicyData(np.zeros(3), np.ones(2), np.ones(3), np.ones(3), np.ones(3))


def test_send_time_uses_the_most_active_local_hour_and_falls_back() -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # 13:00 in Paris
    hours = [0] * 24
    hours[19] = 9
    active = ProfileView(customer_id="a", timezone="Europe/Paris", computed={"active_hours": hours})
    assert best_send_time(active, now) == datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    thin = ProfileView(customer_id="b", timezone="America/New_York")
    assert best_send_time(thin, now) == now  # no best hour known: do not delay
    unknown_tz = ProfileView(
        customer_id="c", timezone="Mars/Olympus", computed={"active_hours": hours}
    )
    assert best_send_time(unknown_tz, now) == datetime(2026, 11, 29, 19, 0, tzinfo=UTC)  # UTC


def test_preferred_channel_from_engagement_else_trait() -> None:
    engaged = ProfileView(
        customer_id="a",
        computed={
            "engagement": {"email": {"sent": 10, "opened": 1}, "sms": {"sent": 5, "clicked": 3}},
            "preferred_channel": "email",
        },
    )
    assert preferred_channel(engaged)[0] == "sms"
    assert preferred_channel(ProfileView(customer_id="b"))[0] is None


def test_holdouts_are_deterministic_and_near_their_rates() -> None:
    ids = [f"cust-{i}" for i in range(4000)]
    control = [in_global_control(c, rate=0.1) for c in ids]
    assert control == [in_global_control(c, rate=0.1) for c in ids]
    assert 0.08 < sum(control) / len(ids) < 0.12
    held = sum(in_journey_holdout(c, "winback", rate=0.2) for c in ids) / len(ids)
    assert 0.17 < held < 0.23
    assert not any(in_global_control(c, rate=0.0) for c in ids[:100])


def test_eval_suite_reports_the_issue_metric_names() -> None:
    from evals.suites import decisioning as suite

    churn, _ = suite.churn_figures()
    ope, _ = suite.ope_figures(n_boot=200)
    metrics = {**churn, **ope}
    for name in ("churn_auc", "baseline_churn_auc", "logged_ctr"):
        assert name in metrics
    for name in ("ope_ips", "ope_snips", "ope_dr"):
        assert metrics[f"{name}_lo"] <= metrics[name] <= metrics[f"{name}_hi"]
    assert metrics["churn_auc"] > metrics["baseline_churn_auc"]


def test_bench_runs_with_tiny_sizes() -> None:
    from bench.decide import measure

    report = measure(200).as_dict()
    assert report["bench"] == "decide"
    metrics = report["metrics"]
    assert {"decisions_per_s", "p99_ms", "p99_cpu_ms", "model_to_rules_ratio"} <= set(metrics)
    assert {"p99_ms_gc_off", "p99_wait_ms", "gc_collections"} <= set(metrics)
    # decision history is part of the workload: cooldowns and the offer budget really block
    assert metrics["cooldown_blocks_per_decision"] > 0
    assert metrics["budget_blocks_per_decision"] > 0


def test_own_logged_decisions_feed_the_same_evaluator() -> None:
    from decisioning.simulation import simulate_and_evaluate

    est, result = simulate_and_evaluate(n=40, seed=2)
    assert result.arm == "model" and result.cross_fitted
    assert result.n_logged + result.excluded["rules_arm"] == 40
    assert 0 < result.n_logged < 40  # the production mix: both arms decide, one is evaluated
    assert 0.0 <= est["logged"].value <= 1.0
    for name in ("ips", "snips", "dr"):
        assert est[name].lo <= est[name].value <= est[name].hi
