"""Risk score per action and the rule that decides whether a person must look first.

The score is a weighted sum in [0, 1] of: value at stake, discount size, content novelty
(low brand conformance / not from a reviewed template), model doubt, guardrail warnings and
customer tier. Weights and the escalation threshold are policy.
"""

from __future__ import annotations

from core.domain import Outcome, PlannedAction, ProfileView, Verdict
from guardrails.policy import Policy

__all__ = ["risk_factors", "risk_score", "risk_verdict"]

CHECK = "risk"
_REVIEWED_SOURCES = {"template", "fallback", "cache", "approved"}


def risk_factors(
    action: PlannedAction, profile: ProfileView | None, verdicts: list[Verdict], policy: Policy
) -> dict[str, float]:
    """Each factor in [0, 1], before weighting (kept so a reviewer sees why)."""
    value = float(action.offer.get("value") or 0)
    discount = float(action.offer.get("discount_pct") or 0)
    conformance = action.conformance_score
    novelty = 0.0 if action.content.get("source") in _REVIEWED_SOURCES else 0.5
    if conformance is not None:
        novelty = max(novelty, 1.0 - conformance)
    confidence = action.model_confidence
    warnings = sum(1 for v in verdicts if v.outcome in (Outcome.escalate, Outcome.hold))
    tier = str((profile.computed.get("tier") if profile else None) or "")
    return {
        "value": min(1.0, value / policy.risk.value_ceiling) if policy.risk.value_ceiling else 0,
        "discount": min(1.0, discount / max(policy.content.max_discount_pct, 1)),
        "novelty": novelty,
        # a probability; anything else (an expected value) is clamped, never negative
        "confidence": 1.0 - min(1.0, max(0.0, confidence)) if confidence is not None else 0.5,
        "warnings": min(1.0, warnings / 2),
        "tier": policy.risk.tiers.get(tier.lower(), 0.0),
    }


def risk_score(factors: dict[str, float], policy: Policy) -> float:
    weights = policy.risk.weights
    total = sum(weights.values()) or 1.0
    return round(sum(weights.get(k, 0) * v for k, v in factors.items()) / total, 4)


def risk_verdict(score: float, policy: Policy) -> Verdict:
    if score >= policy.risk.escalate_at:
        return Verdict.escalate(CHECK, f"risk_score:{score:.2f}>={policy.risk.escalate_at:g}")
    return Verdict.allow(CHECK)
