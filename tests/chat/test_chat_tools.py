"""The chat tools on their own: clear errors, no half-written changes, drafts that validate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agents.chat.slots import Known, extract, repair
from agents.tables import JourneyAssignment
from core.clock import utcnow
from core.db import session_scope
from core.keys import Role
from core.settings import Settings
from core.tables import Control, Journey
from tests.chat.conftest import CATALOG
from tools.chat import ToolEnv, ToolError, tool_by_name
from tools.chat.journey_draft import plan_journey
from tools.chat.journeys import validate_journey_yaml


def _env(session: Session, role: Role = Role.marketer) -> ToolEnv:
    return ToolEnv(
        session=session,
        settings=Settings(environment="test"),
        actor="key:t",
        role=role,
        conversation_id="t1",
        extras={"catalog": CATALOG},
    )


def test_unknown_channel_is_refused_and_nothing_is_written(seeded: Engine) -> None:
    with pytest.raises(ToolError, match="unknown channel 'fax'"), session_scope(seeded) as s:
        tool_by_name("pause").run(_env(s), {"scope": "channel", "target": "fax"})
    with Session(seeded) as s:
        assert s.exec(select(Control)).all() == []


def test_bad_argument_names_the_field(seeded: Engine) -> None:
    with pytest.raises(ToolError, match="days"), Session(seeded) as s:
        tool_by_name("channel_performance").run(_env(s), {"days": 5000})


def test_explain_names_an_offer_the_customer_never_got(seeded: Engine) -> None:
    with (
        pytest.raises(ToolError, match="no decision for customer 1042 mentions '40%'"),
        Session(seeded) as s,
    ):
        tool_by_name("explain_decision").run(_env(s), {"customer_id": "1042", "offer": "40%"})


def test_journey_performance_compares_against_the_holdout(seeded: Engine) -> None:
    # 1044 (treated) ordered a day ago; 1043 (control) did not
    with session_scope(seeded) as s:
        for run, customer, arm in (("r1", "1044", "treated"), ("r2", "1043", "control")):
            s.add(
                JourneyAssignment(
                    run_id=run,
                    journey_slug="winback",
                    customer_id=customer,
                    arm=arm,
                    assigned_at=utcnow() - timedelta(days=2),
                )
            )
    with Session(seeded) as s:
        result = tool_by_name("journey_performance").run(_env(s), {"journey": "winback"})
    cmp = result.data["journeys"]["winback"]["assignments"]
    assert cmp["treated"]["conversions"] == 1 and cmp["control"]["conversions"] == 0
    assert "lift +100.0 points" in result.summary
    assert "holdout too small to trust" in result.summary  # the 30-day decision view


def test_draft_for_the_issue_goal_validates_and_uses_catalog_actions_only() -> None:
    spec = plan_journey(
        "win-back journey for lapsed VIPs with a CSM call for the top tier", CATALOG
    )
    import yaml

    validate_journey_yaml(yaml.safe_dump(spec))
    assert spec["trigger"] == "no_purchase_90d"
    used = {a for step in spec["steps"] if step["kind"] == "action" for a in step["actions"]}
    assert used <= {a.id for a in CATALOG} and "csm_outreach" in used
    branches = [s for s in spec["steps"] if s["kind"] == "branch"]
    assert [b["id"] for b in branches] == ["audience", "top-tier"]


def test_second_draft_of_the_same_goal_is_a_new_version(seeded: Engine) -> None:
    for _ in range(2):
        with session_scope(seeded) as s:
            tool_by_name("draft_journey").run(_env(s), {"goal": "cart recovery with sms"})
    with Session(seeded) as s:
        versions = s.exec(select(Journey.version).where(Journey.slug == "cart-recovery")).all()
    assert sorted(versions) == [1, 2]


def test_repair_maps_near_misses_and_trusts_the_request_for_small_models() -> None:
    spec = tool_by_name("count_customers")
    text = "how many customers are at risk of churning?"
    assert repair(spec, {"segment": "vip"}, text, Known(), prefer_request=True) == {
        "segment": "at_risk"
    }
    assert repair(spec, {"segment": "at risk"}, "count them", Known()) == {"segment": "at_risk"}


def test_slots_read_ids_channels_and_windows() -> None:
    assert extract("get_customer_profile", "look at jane@example.com", Known()) == {
        "customer_id": "jane@example.com"
    }
    assert extract("channel_performance", "texts over the past 2 weeks", Known()) == {
        "channel": "sms",
        "days": 14,
    }
