"""The arbitration pipeline, pure and in memory: eligibility -> applicability -> suitability ->
prioritisation, then the policy arm and holdouts. `engine.decide` adds the database around it.

Every candidate records each stage it went through, passed or failed and why, so the stored
explanation is exactly what was done. "Do nothing" is always a candidate with score 0: an action
is chosen only when its expected net value P(response) x value x levers - cost beats doing nothing.
Given the same inputs and seed the outcome is the same (the only randomness is a seeded RNG).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.audit import digest
from core.domain import DecisionContext, Outcome, ProfileView
from decisioning import holdout as hold
from decisioning.bandit import BanditModel, top_contributions
from decisioning.catalog import ActionSpec, Catalog
from decisioning.features import (
    FEATURE_NAMES,
    MISSING,
    eval_compiled,
    eval_rule,
    feature_vector,
    lookup,
)
from decisioning.plan import ActionPlan, catalog_ids, catalog_plan
from decisioning.suitability import PastDecision, SuitabilityCheck, budget_check
from decisioning.timing import preferred_channel

__all__ = ["NOTHING", "Arbitration", "PolicyConfig", "arbitrate"]

NOTHING = "do_nothing"
CHANNEL_LEVER = 1.15  # boost for the customer's preferred channel
_STEP_ACTION = "step allows this action"
_STEP_CHANNEL = "step allows channel"
_INBOUND = "web placements answer inbound requests only"
_REACHABLE = {
    "email": {True: "email address on file", False: "no email address"},
    "sms": {True: "phone number on file", False: "no phone number"},
}


@dataclass(frozen=True)
class PolicyConfig:
    """Rates and knobs; defaults come from `CJO_DECISIONING_*` (see holdout.py)."""

    global_control_rate: float
    journey_holdout_rate: float
    model_share: float
    epsilon: float
    force_arm: str | None = None  # "model" | "rules": the bench's baseline, tests

    @classmethod
    def from_settings(cls, **overrides: Any) -> PolicyConfig:
        s = hold.get_decisioning_settings()
        values: dict[str, Any] = {
            "global_control_rate": s.global_control_rate,
            "journey_holdout_rate": s.journey_holdout_rate,
            "model_share": s.model_share,
            "epsilon": s.epsilon,
        }
        values.update(overrides)
        return cls(**values)


@dataclass
class Arbitration:
    """What arbitration found: the chosen action (None = do nothing) and the explanation."""

    action: ActionSpec | None
    score: float | None
    policy_arm: str
    holdout: bool
    needs_review: bool
    explanation: dict[str, Any] = field(default_factory=dict)


def _seed(profile: ProfileView, ctx: DecisionContext, now: datetime) -> int:
    if ctx.seed is not None:
        return ctx.seed
    key = [profile.customer_id, ctx.trigger, ctx.journey_slug, ctx.run_id, ctx.step]
    return int(digest([*key, ctx.placement, now.isoformat()])[:12], 16)


class _Request:
    """Per-decision facts every candidate's filters read: computed once, not per action."""

    def __init__(
        self,
        profile: ProfileView,
        ctx: DecisionContext,
        history: Sequence[PastDecision],
        now: datetime,
    ) -> None:
        self.profile = profile
        self.ctx = ctx
        self.now = now
        self.allowed_actions = None if ctx.allowed_actions is None else set(ctx.allowed_actions)
        self.allowed_channels = None if ctx.allowed_channels is None else set(ctx.allowed_channels)
        self.placement_text = f"placement {ctx.placement!r} in "
        self.trigger_text = f"trigger {ctx.trigger!r} in "
        self.journey_text = f"journey {ctx.journey_slug!r} in "
        self.last_chosen: dict[str, datetime] = {}
        for past in history:
            seen = self.last_chosen.get(past.action_id)
            if seen is None or past.at > seen:
                self.last_chosen[past.action_id] = past.at
        self._consent: dict[str, Any] = {}
        self._reachable: dict[str, bool] = {}

    def consent_status(self, channel: str) -> Any:
        if channel not in self._consent:
            record = self.profile.consent.get(channel) or {}
            self._consent[channel] = record.get("status", "unknown")
        return self._consent[channel]

    def reachable(self, channel: str) -> bool:
        if channel not in self._reachable:
            on_file = self.profile.email if channel == "email" else self.profile.phone
            self._reachable[channel] = on_file is not None
        return self._reachable[channel]


def _applicability(plan: ActionPlan, req: _Request) -> tuple[list[dict[str, Any]], bool]:
    """The applicability checks of one action and whether all passed."""
    action, ctx = plan.action, req.ctx
    checks: list[dict[str, Any]] = []
    every = True

    def add(check: str, ok: bool, reason: str) -> None:
        nonlocal every
        every = every and ok
        checks.append({"stage": "applicability", "check": check, "passed": ok, "reason": reason})

    if req.allowed_actions is not None:
        add("allowed_actions", action.id in req.allowed_actions, _STEP_ACTION)
    if req.allowed_channels is not None:
        add("allowed_channels", action.channel in req.allowed_channels, _STEP_CHANNEL)
    if ctx.placement is not None:
        ok = action.inbound and ctx.placement in plan.placements
        add("placement", ok, req.placement_text + plan.placements_text)
    else:
        add("outbound", not action.inbound, _INBOUND)
        if plan.triggers:
            ok = ctx.trigger in plan.triggers
            add("trigger", ok, req.trigger_text + plan.triggers_text)
    if plan.journeys:
        ok = ctx.journey_slug in plan.journeys
        add("journey", ok, req.journey_text + plan.journeys_text)
    return checks, every


def _eligibility(plan: ActionPlan, req: _Request) -> tuple[list[dict[str, Any]], bool]:
    """The eligibility checks of one action (all of them, for the record) and whether all passed."""
    action = plan.action
    checks: list[dict[str, Any]] = []
    every = True

    def add(check: str, ok: bool, reason: str) -> None:
        nonlocal every
        every = every and ok
        checks.append({"stage": "eligibility", "check": check, "passed": ok, "reason": reason})

    if plan.consent_ok is not None:
        status = req.consent_status(action.channel)
        add("consent", status in plan.consent_ok, f"{action.channel} consent {status!r}")
    if action.channel in _REACHABLE:
        ok = req.reachable(action.channel)
        add("reachable", ok, _REACHABLE[action.channel][ok])
    for rule in plan.rules:
        ok, reason = eval_compiled(req.profile, rule)
        add("rule", ok, reason)
    if plan.cooldown is not None:
        last = req.last_chosen.get(action.id)
        ok = last is None or last < req.now - plan.cooldown
        when = "never" if last is None else last.isoformat(timespec="seconds")
        add("cooldown", ok, f"last chosen {when}; {plan.cooldown_text}")
    return checks, every


def _cold_start_drivers(
    action: ActionSpec, profile: ProfileView, lever: float, pref_reason: str
) -> list[dict[str, Any]]:
    """What drives a candidate the model knows nothing about yet (all its weights are zero).

    Its estimate is the catalog prior, so the customer-specific reasons it is a candidate are
    the eligibility rules it passed; then the channel lever and the prior itself.
    """
    drivers: list[dict[str, Any]] = []
    for rule in action.eligibility:
        actual = lookup(profile, rule.field)
        _, reason = eval_rule(profile, rule)
        drivers.append(
            {
                "feature": rule.field,
                "value": None if actual is MISSING else actual,
                "source": "eligibility_rule",
                "reason": reason,
            }
        )
    if lever != 1.0:
        drivers.append(
            {
                "feature": "preferred_channel",
                "value": action.channel,
                "source": "channel_lever",
                "reason": f"x{lever:g}: {pref_reason}",
            }
        )
    drivers.append(
        {
            "feature": "prior",
            "value": action.base_propensity,
            "source": "catalog_prior",
            "reason": "no outcomes learned for this action yet: P(response) is the prior",
        }
    )
    return drivers


def _suitability(
    action: ActionSpec,
    profile: ProfileView,
    now: datetime,
    checks: Sequence[SuitabilityCheck],
) -> tuple[list[dict[str, Any]], bool]:
    out: list[dict[str, Any]] = []
    escalate = False
    for check in checks:
        verdict = check(profile, action, now)
        if verdict is None:
            continue
        passed = verdict.outcome is not Outcome.block
        escalate |= verdict.outcome is Outcome.escalate
        out.append(
            {
                "stage": "suitability",
                "check": verdict.check,
                "passed": passed,
                "outcome": verdict.outcome.value,
                "reason": "; ".join(verdict.reasons) or verdict.outcome.value,
            }
        )
    return out, escalate


def arbitrate(
    profile: ProfileView,
    ctx: DecisionContext,
    *,
    now: datetime,
    catalog: Catalog,
    bandit: BanditModel,
    history: Sequence[PastDecision] = (),
    suitability: Sequence[SuitabilityCheck] = (),
    policy: PolicyConfig | None = None,
    churn_explanation: dict[str, Any] | None = None,
) -> Arbitration:
    """Run the whole pipeline for one customer and context; no I/O."""
    policy = policy or PolicyConfig.from_settings()
    rng = random.Random(_seed(profile, ctx, now))
    churn_risk = churn_explanation.get("score") if churn_explanation else None
    x = feature_vector(profile, churn_risk)
    pref, pref_reason = preferred_channel(profile)
    checks = [budget_check(catalog.limits, history), *suitability]
    arm = policy.force_arm or hold.policy_arm(profile.customer_id, model_share=policy.model_share)

    req = _Request(profile, ctx, history, now)
    candidates: list[dict[str, Any]] = []
    survivors: list[tuple[int, ActionSpec, dict[str, Any], bool]] = []
    for row, plan in enumerate(catalog_plan(catalog)):
        action = plan.action
        cand: dict[str, Any] = {"action_id": action.id, "channel": action.channel}
        filters, ok = _applicability(plan, req)
        if ok:
            found_eligible, ok = _eligibility(plan, req)
            filters += found_eligible
        escalate = False
        if ok:
            found, escalate = _suitability(action, profile, now, checks)
            filters += found
            ok = all(f["passed"] for f in found)
        cand["filters"] = filters
        cand["passed"] = ok
        if ok:
            survivors.append((row, action, cand, escalate))
        candidates.append(cand)
    estimates = bandit.stack(catalog_ids(catalog)).estimate(
        [r for r, *_ in survivors], x, [a.base_propensity for _, a, *_ in survivors]
    )
    passed: list[tuple[ActionSpec, float, dict[str, Any]]] = []
    for (_, action, cand, escalate), est in zip(survivors, estimates, strict=True):
        lever = CHANNEL_LEVER if pref == action.channel else 1.0
        score = est.p_response * action.value * action.priority * lever - action.cost
        rank_score = score + action.value * est.bonus
        top = top_contributions(est.contributions)
        cand.update(
            prior=action.base_propensity,
            p_response=round(est.p_response, 5),
            ucb_bonus=round(est.bonus, 5),
            value=action.value,
            cost=action.cost,
            levers={"priority": action.priority, "channel_preference": lever},
            score=round(score, 5),
            rank_score=round(rank_score, 5),
            top_features=top or _cold_start_drivers(action, profile, lever, pref_reason),
            top_features_source="model" if top else "cold_start",
            needs_review=action.needs_review or escalate,
        )
        passed.append((action, rank_score, cand))
    candidates.append(
        {"action_id": NOTHING, "channel": None, "filters": [], "passed": True, "score": 0.0}
    )

    chosen, reason, propensity = _choose(arm, passed, policy.epsilon, rng)
    global_control = hold.in_global_control(profile.customer_id, rate=policy.global_control_rate)
    journey_holdout = bool(ctx.journey_slug) and hold.in_journey_holdout(
        profile.customer_id, ctx.journey_slug or "", rate=policy.journey_holdout_rate
    )
    would_have = chosen
    if global_control or journey_holdout:
        chosen = None
        reason = "global_control" if global_control else "journey_holdout"
    explanation = {
        "catalog_version": catalog.version,
        "model_version": bandit.version,
        "churn_model_version": (churn_explanation or {}).get("model_version"),
        "policy_arm": arm,
        "holdout": {"global_control": global_control, "journey_holdout": journey_holdout},
        "context": ctx.model_dump(mode="json", exclude_none=True),
        "features": {n: round(float(v), 4) for n, v in zip(FEATURE_NAMES, x, strict=True)},
        "churn": churn_explanation,
        "preferred_channel": {"channel": pref, "reason": pref_reason},
        "candidates": candidates,
        "chosen": {
            "action_id": chosen[0].id if chosen else NOTHING,
            "reason": reason,
            "would_have_chosen": would_have[0].id if chosen is None and would_have else None,
        },
        "exploration": {
            "epsilon": policy.epsilon if arm == "model" else 0.0,
            "propensity": round(propensity, 6),
        },
    }
    chosen_score: float | None = chosen[2]["score"] if chosen else None
    needs_review = bool(chosen and chosen[2]["needs_review"])
    return Arbitration(
        action=chosen[0] if chosen else None,
        score=chosen_score,
        policy_arm=arm,
        holdout=global_control or journey_holdout,
        needs_review=needs_review,
        explanation=explanation,
    )


def _choose(
    arm: str,
    passed: list[tuple[ActionSpec, float, dict[str, Any]]],
    epsilon: float,
    rng: random.Random,
) -> tuple[tuple[ActionSpec, float, dict[str, Any]] | None, str, float]:
    """(chosen or None, reason, probability this policy had of choosing it)."""
    if arm == "rules":
        if not passed:
            return None, "no_candidate_passed", 1.0
        worth = [p for p in passed if p[1] > 0]  # never an action worth less than nothing
        if not worth:
            return None, "nothing_beats_doing_nothing", 1.0
        best = max(worth, key=lambda p: (p[0].priority, p[0].value, -p[0].cost))
        return best, "highest_marketer_priority", 1.0
    options: list[tuple[ActionSpec, float, dict[str, Any]] | None] = [*passed, None]
    ranked = max(passed, key=lambda p: p[1], default=None)
    greedy = ranked if ranked is not None and ranked[1] > 0 else None
    k = len(options)
    if passed and rng.random() < epsilon:
        pick = options[rng.randrange(k)]
        prob = epsilon / k + (1 - epsilon if pick is greedy else 0.0)
        return pick, "exploration", prob
    prob = (1 - epsilon) + (epsilon / k if passed else 0.0) if passed else 1.0
    if greedy is None:
        return None, "nothing_beats_doing_nothing" if passed else "no_candidate_passed", prob
    # LinUCB ranks by expected value plus an uncertainty bonus; say which of the two won.
    reason = (
        "highest_expected_value" if greedy[2].get("score", 0) > 0 else "optimism_under_uncertainty"
    )
    return greedy, reason, prob
