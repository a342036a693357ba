"""Explanations name what drove a candidate even before the model learned anything, and why
the send time is what it is."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from core.db import session_scope
from core.domain import DecisionContext
from decisioning.arbitration import arbitrate
from decisioning.bandit import BanditModel
from decisioning.catalog import load_catalog
from decisioning.engine import decide
from decisioning.features import feature_vector
from tests.decisioning.factories import NOW, SUBSCRIBED, cart_ctx, policy, profile

CATALOG = load_catalog()


def _passed(result: Any) -> dict[str, dict[str, Any]]:
    return {c["action_id"]: c for c in result.explanation["candidates"] if c.get("prior")}


def test_cold_start_candidates_name_their_rules_and_prior() -> None:
    at_risk = profile(churn_risk=0.9, monetary=300.0, order_count=5)
    ctx = DecisionContext(trigger="churn_risk_high")
    result = arbitrate(
        at_risk, ctx, now=NOW, catalog=CATALOG, bandit=BanditModel(), policy=policy()
    )
    passed = _passed(result)
    assert passed, "some action must pass for a churn-risk customer"
    for action_id, cand in passed.items():
        assert cand["top_features_source"] == "cold_start", action_id
        features = [t["feature"] for t in cand["top_features"]]
        assert "prior" in features, action_id
        for rule in CATALOG.get(action_id).eligibility:
            assert rule.field in features, (action_id, rule.field)
    rule_driven = next(a for a in passed if CATALOG.get(a).eligibility)
    entry = next(
        t for t in passed[rule_driven]["top_features"] if t["source"] == "eligibility_rule"
    )
    assert "actual" in entry["reason"] and entry["value"] is not None


def test_a_trained_action_is_explained_by_the_model() -> None:
    customer = profile()
    bandit = BanditModel()
    x = feature_vector(customer)
    for reward in (1.0, 1.0, 0.0, 1.0):
        bandit.update("cart_reminder_email", x, reward, 0.08)
    result = arbitrate(
        customer, cart_ctx(), now=NOW, catalog=CATALOG, bandit=bandit, policy=policy()
    )
    cand = _passed(result)["cart_reminder_email"]
    assert cand["top_features_source"] == "model"
    assert cand["top_features"] and all("contribution" in t for t in cand["top_features"])


def test_the_send_time_reason_is_stored(sqlite_engine: Engine) -> None:
    hours = [0] * 24
    hours[19] = 9
    engaged = profile("evening", consent={"email": SUBSCRIBED}, active_hours=hours)
    thin = profile("new", consent={"email": SUBSCRIBED})
    with session_scope(sqlite_engine) as session:
        timed = decide(session, engaged, cart_ctx(), now=NOW, policy=policy())
        untimed = decide(session, thin, cart_ctx(), now=NOW, policy=policy())
    assert timed.action_id == untimed.action_id == "cart_reminder_email"
    assert timed.explanation["send_at_reason"].startswith("most active local hour 19:00")
    assert "Europe/Paris" in timed.explanation["send_at_reason"]
    assert untimed.explanation["send_at"] == NOW.isoformat()
    assert "fewer than 5 timed events" in untimed.explanation["send_at_reason"]
