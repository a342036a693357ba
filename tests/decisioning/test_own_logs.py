"""Off-policy evaluation on cjo's own stored decisions: which rows, which model, which database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.db import make_engine, migrate, session_scope
from core.domain import DecisionContext
from core.tables import Decision
from decisioning.bandit import BanditModel
from decisioning.engine import decide
from decisioning.learning import record_outcome
from decisioning.ope import estimate_all
from decisioning.ope_logs import cross_fitted, from_decisions
from tests.decisioning.factories import NOW, policy, profile

TRIGGERS = ("cart_abandoned", "churn_risk_high", "no_purchase_90d")


def _log(engine: Engine, n: int, *, epsilon: float, model_share: float = 0.5) -> list[str]:
    """`n` decisions over varied customers, every third chosen action rewarded 1 (else 0)."""
    mix = policy(model_share=model_share, epsilon=epsilon)
    ids: list[str] = []
    with session_scope(engine) as session:
        for i in range(n):
            customer = profile(
                f"own-{i}",
                churn_risk=(i % 10) / 10,
                recency_days=5 + 13 * (i % 7),
                order_count=i % 5,
                open_cart={"items": i % 2, "value": 20.0 + i},
            )
            ctx = DecisionContext(trigger=TRIGGERS[i % 3], seed=1000 + i)
            out = decide(session, customer, ctx, now=NOW + timedelta(minutes=i), policy=mix)
            ids.append(out.decision_id)
    with session_scope(engine) as session:
        for i, decision_id in enumerate(ids):
            row = session.get(Decision, decision_id)
            if row is not None and row.action_id is not None:
                reward = 1.0 if i % 3 == 0 else 0.0
                record_outcome(session, decision_id=decision_id, reward=reward, kind="click")
    return ids


def test_only_model_arm_decisions_are_evaluated_and_the_output_says_so(
    sqlite_engine: Engine,
) -> None:
    _log(sqlite_engine, 60, epsilon=0.3)
    with Session(sqlite_engine) as session:
        arms = [d.policy_arm for d in session.exec(select(Decision))]
        # The policy that logged the decisions, before any outcome: a fresh bandit.
        result = from_decisions(session, BanditModel(), epsilon=0.3)
        model_rows = session.exec(select(Decision).where(Decision.policy_arm == "model")).all()
    assert 0 < arms.count("model") < len(arms)  # both arms really occurred
    assert result.arm == "model"
    assert result.n_logged == arms.count("model") == len(result.data.rewards)
    assert result.excluded["rules_arm"] == arms.count("rules")
    assert set(result.decision_ids) == {d.id for d in model_rows}
    # Judged against itself, the logging policy's importance weights are all 1: IPS and SNIPS
    # equal its logged reward. A deterministic rules row (propensity 1) would break this.
    assert np.allclose(result.data.weights, 1.0, atol=1e-5)
    est = estimate_all(result.data, n_boot=50)
    assert est["ips"].value == pytest.approx(est["logged"].value, abs=1e-5)
    assert est["snips"].value == pytest.approx(est["logged"].value, abs=1e-5)


def test_cross_fitting_never_judges_a_row_with_a_model_that_saw_its_reward(
    sqlite_engine: Engine,
) -> None:
    ids = _log(sqlite_engine, 40, epsilon=0.3, model_share=1.0)
    with Session(sqlite_engine) as session:
        before = cross_fitted(session, epsilon=0.1)
        first_half = set(ids[:20])
        learned = next(
            d
            for d in ids[:20]
            if (row := session.get(Decision, d)) is not None and row.action_id is not None
        )
    assert before.cross_fitted and before.n_logged == 40
    with session_scope(sqlite_engine) as session:  # one more outcome on a first-half decision
        record_outcome(session, decision_id=learned, reward=1.0, kind="purchase")
    with Session(sqlite_engine) as session:
        after = cross_fitted(session, epsilon=0.1)
    assert after.decision_ids == before.decision_ids
    in_first = np.array([d in first_half for d in after.decision_ids])
    for name in ("target_p", "direct", "q_logged"):
        old, new = getattr(before.data, name), getattr(after.data, name)
        assert np.array_equal(old[in_first], new[in_first]), name  # judged by the other half
    moved = ~np.isclose(before.data.q_logged[~in_first], after.data.q_logged[~in_first])
    assert moved.any()  # the second half is judged by a model that learned the new outcome
    changed = after.decision_ids.index(learned)
    assert after.data.rewards[changed] == before.data.rewards[changed] + 1.0


def test_eval_suite_evaluates_the_configured_databases_decisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evals.suites.decisioning import db_log_figures

    url = f"sqlite:///{tmp_path / 'cjo.db'}"
    assert db_log_figures(url) == ({}, {"db_logs": {"skipped": "no database file"}})
    assert not (tmp_path / "cjo.db").exists()  # looking did not create one
    engine = make_engine(url)
    migrate(engine)
    _log(engine, 40, epsilon=0.3)
    engine.dispose()
    metrics, details = db_log_figures(url)
    for name in ("ips", "snips", "dr"):
        assert metrics[f"db_ope_{name}_lo"] <= metrics[f"db_ope_{name}"]
        assert metrics[f"db_ope_{name}"] <= metrics[f"db_ope_{name}_hi"]
    info = details["db_logs"]
    assert isinstance(info, dict)
    assert info["arm"] == "model" and info["cross_fitted"] is True
    assert metrics["db_ope_n_logged"] == info["n_logged"] > 0
