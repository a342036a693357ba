"""The pure pipeline: filters, scoring, do-nothing, determinism, hooks, policy arms."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.domain import DecisionContext, ProfileView, Verdict
from decisioning.arbitration import NOTHING, arbitrate
from decisioning.bandit import BanditModel
from decisioning.catalog import ActionSpec, load_catalog
from decisioning.suitability import PastDecision
from tests.decisioning.factories import NOW, cart_ctx, policy, profile

CATALOG = load_catalog()


def _run(p: ProfileView, ctx: DecisionContext, **kw: Any) -> Any:
    kw.setdefault("policy", policy())
    return arbitrate(p, ctx, now=NOW, catalog=CATALOG, bandit=BanditModel(), **kw)


def _candidate(result: Any, action_id: str) -> dict[str, Any]:
    return next(c for c in result.explanation["candidates"] if c["action_id"] == action_id)


def _failed(result: Any, action_id: str) -> list[str]:
    return [f["check"] for f in _candidate(result, action_id)["filters"] if not f["passed"]]


def test_abandoned_cart_gets_a_cart_reminder_and_every_candidate_is_explained() -> None:
    result = _run(profile(), cart_ctx())
    assert result.action is not None and result.action.id.startswith("cart_reminder")
    ids = [c["action_id"] for c in result.explanation["candidates"]]
    assert ids == [*CATALOG.ids, NOTHING]
    chosen = _candidate(result, result.action.id)
    assert chosen["passed"] and chosen["score"] > 0 and chosen["p_response"] > 0
    assert _failed(result, "winback_email_15") == ["trigger"]
    assert _failed(result, "banner_home_hero") == ["outbound"]


def test_unsubscribed_channel_fails_consent_with_the_status_as_reason() -> None:
    p = profile(consent={"email": {"status": "unsubscribed"}, "sms": {"status": "implied"}})
    result = _run(p, cart_ctx())
    assert _failed(result, "cart_reminder_email") == ["consent"]
    filters = _candidate(result, "cart_reminder_email")["filters"]
    consent = next(f for f in filters if f["check"] == "consent")
    assert consent["stage"] == "eligibility" and "unsubscribed" in consent["reason"]
    assert "consent" in _failed(result, "cart_reminder_sms")  # sms needs express opt-in
    assert result.action is None
    assert result.explanation["chosen"] == {
        "action_id": NOTHING,
        "reason": "no_candidate_passed",
        "would_have_chosen": None,
    }


def test_do_nothing_wins_when_no_action_is_worth_its_cost() -> None:
    p = profile(open_cart={"items": 1, "value": 40.0}, churn_risk=0.1)
    costly = CATALOG.model_copy(
        update={"actions": [a.model_copy(update={"cost": 1000.0}) for a in CATALOG.actions]}
    )
    result = arbitrate(
        p, cart_ctx(), now=NOW, catalog=costly, bandit=BanditModel(), policy=policy()
    )
    assert result.action is None
    assert result.explanation["chosen"]["reason"] == "nothing_beats_doing_nothing"


def test_same_inputs_and_seed_give_the_same_decision() -> None:
    explore = policy(epsilon=0.5)
    runs = [_run(profile(), cart_ctx(seed=42), policy=explore) for _ in range(3)]
    assert len({r.explanation["chosen"]["action_id"] for r in runs}) == 1
    assert runs[0].explanation == runs[1].explanation
    choices = {
        _run(profile(), cart_ctx(seed=s), policy=explore).explanation["chosen"]["action_id"]
        for s in range(40)
    }
    assert len(choices) > 1  # the seed really drives exploration


def test_cooldown_blocks_an_action_chosen_recently() -> None:
    history = [PastDecision("cart_reminder_email", NOW - timedelta(days=1))]
    result = _run(profile(), cart_ctx(), history=history)
    assert _failed(result, "cart_reminder_email") == ["cooldown"]
    old = [PastDecision("cart_reminder_email", NOW - timedelta(days=3))]
    assert "cooldown" not in _failed(
        _run(profile(), cart_ctx(), history=old), "cart_reminder_email"
    )


def test_suitability_hooks_block_or_escalate_and_are_recorded() -> None:
    calls: list[str] = []

    def no_sms(p: ProfileView, action: ActionSpec, now: datetime) -> Verdict | None:
        calls.append(action.id)
        return Verdict.block("quiet_hours", "22:00-08:00") if action.channel == "sms" else None

    def review_email(p: ProfileView, action: ActionSpec, now: datetime) -> Verdict | None:
        return Verdict.escalate("frequency_cap", "near cap") if action.channel == "email" else None

    result = _run(profile(), cart_ctx(), suitability=[no_sms, review_email])
    assert _failed(result, "cart_reminder_sms") == ["quiet_hours"]
    assert "cart_reminder_sms" in calls and "winback_email_15" not in calls  # only eligible ones
    assert result.action is not None and result.action.id == "cart_reminder_email"
    assert result.needs_review


def test_budget_check_blocks_discounts_over_the_limit_and_for_low_value_customers() -> None:
    ctx = DecisionContext(trigger="churn_risk_high")
    rich = _run(profile(churn_risk=0.9, monetary=300.0), ctx)
    assert "budget" not in _failed(rich, "winback_email_15")
    poor = _run(profile(churn_risk=0.9, monetary=20.0), ctx)
    assert _failed(poor, "winback_email_15") == ["budget"]
    assert "budget" not in _failed(poor, "winback_email_10")
    offers = [PastDecision("x", NOW - timedelta(days=d), 10.0) for d in (2, 5)]
    capped = _run(profile(churn_risk=0.9, monetary=300.0), ctx, history=offers)
    assert _failed(capped, "winback_email_10") == ["budget"]


def test_placement_request_only_considers_that_placement() -> None:
    result = _run(profile(churn_risk=0.9), DecisionContext(placement="home_hero"))
    passed = {c["action_id"] for c in result.explanation["candidates"] if c["passed"]}
    assert passed == {"banner_home_hero", "banner_home_hero_comeback", NOTHING}
    assert result.action is not None and result.action.channel == "web"


def test_rules_arm_follows_marketer_priority_and_is_recorded() -> None:
    ctx = DecisionContext(trigger="churn_risk_high")
    p = profile(churn_risk=0.9, monetary=900.0)
    result = _run(p, ctx, policy=policy(force_arm="rules"))
    assert result.policy_arm == "rules"
    assert result.action is not None and result.action.id == "csm_outreach"  # priority 1.2
    assert result.needs_review  # the catalog says a human reviews CSM tasks
    assert result.explanation["chosen"]["reason"] == "highest_marketer_priority"


def test_rules_arm_never_picks_an_action_worth_less_than_doing_nothing() -> None:
    costly = CATALOG.model_copy(
        update={"actions": [a.model_copy(update={"cost": 1_000.0}) for a in CATALOG.actions]}
    )
    ctx = DecisionContext(trigger="churn_risk_high")
    p = profile(churn_risk=0.9, monetary=900.0)
    result = arbitrate(
        p, ctx, now=NOW, catalog=costly, bandit=BanditModel(), policy=policy(force_arm="rules")
    )
    assert result.action is None
    assert result.explanation["chosen"]["reason"] == "nothing_beats_doing_nothing"


def test_policy_split_is_about_the_configured_share() -> None:
    arms = [
        _run(profile(f"c{i}"), cart_ctx(), policy=policy(model_share=0.7)).policy_arm
        for i in range(400)
    ]
    share = arms.count("model") / len(arms)
    assert 0.6 < share < 0.8
