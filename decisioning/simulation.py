"""A small simulated closed loop on a real database, to exercise OPE on cjo's own logs.

Customers are synthetic; their true response probability is hidden from cjo and depends on the
action and one profile feature per action. cjo decides with the production mix (a model arm
with exploration beside a rules arm), outcomes are drawn from the hidden truth and fed back
through `record_outcome`, and the logs are then evaluated with `ope_logs.cross_fitted`: the
model-arm decisions of each half, judged by a bandit replayed from the other half's outcomes.
"""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.db import make_engine, migrate, session_scope
from core.domain import DecisionContext, ProfileView
from decisioning.arbitration import PolicyConfig
from decisioning.catalog import Catalog
from decisioning.engine import decide, default_catalog, load_bandit
from decisioning.features import FEATURE_NAMES, feature_vector
from decisioning.learning import record_outcome
from decisioning.ope import Interval, estimate_all
from decisioning.ope_logs import OwnLogEvaluation, cross_fitted

__all__ = ["simulate_and_evaluate"]

TRIGGERS = ("cart_abandoned", "churn_risk_high", "no_purchase_90d")
START = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _customer(rng: random.Random, i: int) -> ProfileView:
    orders = rng.randint(0, 12)
    average = rng.uniform(20, 120)
    yes = {"status": "subscribed"}
    return ProfileView(
        customer_id=f"sim-{i}",
        traits={"email": f"sim{i}@example.com", "phone": "+15555550100"},
        consent={"email": yes, "sms": yes if rng.random() < 0.5 else {}, "push": yes},
        computed={
            "churn_risk": rng.random(),
            "recency_days": rng.randint(1, 300),
            "order_count": orders,
            "order_value": round(orders * average, 2),  # CDP meanings: total spend ...
            "monetary": round(average, 2) if orders else 0.0,  # ... and the average order
            "open_cart": {"items": rng.randint(0, 2), "value": rng.uniform(10, 150)},
        },
    )


def _true_p(catalog: Catalog, action_id: str, profile: ProfileView) -> float:
    action = catalog.get(action_id)
    x = feature_vector(profile)
    driver = 1 + sum(map(ord, action_id)) % (len(FEATURE_NAMES) - 1)
    return min(1.0, action.base_propensity * (0.5 + 2.5 * float(x[driver])))


def simulate_and_evaluate(
    n: int = 300, seed: int = 5, *, model_share: float = 0.7
) -> tuple[dict[str, Interval], OwnLogEvaluation]:
    """Run `n` decisions with feedback in a temporary SQLite database; cross-fitted OPE."""
    rng = random.Random(seed)
    catalog = default_catalog()
    policy = PolicyConfig(
        global_control_rate=0.0, journey_holdout_rate=0.0, model_share=model_share, epsilon=0.2
    )
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'sim.db'}")
        migrate(engine)
        for i in range(n):
            profile = _customer(rng, i)
            now = START + timedelta(minutes=i)
            ctx = DecisionContext(trigger=TRIGGERS[i % len(TRIGGERS)], seed=seed * 100_003 + i)
            with session_scope(engine) as session:
                out = decide(session, profile, ctx, now=now, catalog=catalog, policy=policy)
                if out.action_id is not None:
                    hit = rng.random() < _true_p(catalog, out.action_id, profile)
                    record_outcome(
                        session, decision_id=out.decision_id, reward=float(hit), kind="response"
                    )
        with session_scope(engine) as session:
            result = cross_fitted(session, epsilon=0.1, alpha=load_bandit(session).alpha)
        engine.dispose()
    return estimate_all(result.data, n_boot=500, seed=seed), result
