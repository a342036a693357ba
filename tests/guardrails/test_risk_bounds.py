"""The risk score stays in [0, 1] whatever a caller passes as model confidence."""

from __future__ import annotations

from core.domain import PlannedAction, Verdict
from guardrails.policy import default_policy
from guardrails.risk import risk_factors, risk_score


def test_confidence_outside_a_probability_is_clamped() -> None:
    policy = default_policy()
    for confidence in (-3.0, 0.0, 0.5, 1.0, 7.5):
        action = PlannedAction(
            customer_id="c",
            channel="email",
            model_confidence=confidence,
            offer={"discount_pct": 15, "value": 60},
        )
        factors = risk_factors(action, None, [Verdict.allow("x")], policy)
        assert all(0.0 <= v <= 1.0 for v in factors.values()), factors
        assert 0.0 <= risk_score(factors, policy) <= 1.0
