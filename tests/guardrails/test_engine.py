"""The engine with a database: audit entries, the kill switch, precheck filters, policy files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.journey.holds import needs_person
from core import controls
from core.db import session_scope
from core.domain import Outcome
from core.tables import AuditEntry
from guardrails.engine import KILL_SWITCH, check_action, check_text
from guardrails.policy import DEFAULT_POLICY_PATH, load_policy
from guardrails.precheck import suitability_checks
from tests.guardrails.factories import AFTERNOON_NY, email_action, profile


def _entries(engine: Engine, kind: str) -> list[AuditEntry]:
    with Session(engine) as s:
        query = select(AuditEntry).where(AuditEntry.kind == kind).order_by(col(AuditEntry.seq))
        return list(s.exec(query).all())


def test_each_check_is_audited_with_policy_version(engine: Engine) -> None:
    with session_scope(engine) as s:
        report = check_action(s, email_action(), profile(), now=AFTERNOON_NY)
    assert report.outcome == Outcome.allow
    [entry] = _entries(engine, "guardrail.checked")
    assert entry.customer_id == "cus_ada" and entry.journey_id == "cart-abandon"
    assert entry.payload["report"]["policy_version"] == report.policy_version
    assert {v["check"] for v in entry.payload["report"]["verdicts"]} >= {
        "consent",
        "quiet_hours",
        "frequency_cap",
        "pii",
        "risk",
    }


def test_paused_channel_holds_new_actions_until_resumed(engine: Engine) -> None:
    with session_scope(engine) as s:
        controls.set_paused(s, scope="channel", target="email", paused=True, actor="key:m")
    with session_scope(engine) as s:
        held = check_action(s, email_action(), profile(), now=AFTERNOON_NY)
    assert held.outcome == Outcome.hold
    assert any(v.check == "kill_switch" for v in held.verdicts)
    with session_scope(engine) as s:
        controls.set_paused(s, scope="channel", target="email", paused=False, actor="key:m")
        assert check_action(s, email_action(), profile(), now=AFTERNOON_NY).outcome == "allow"


def test_pause_keeps_the_release_time_of_the_other_holds(engine: Engine) -> None:
    """Paused at 23:00 local: the row waits for both the pause and the 08:00 opening."""
    late = AFTERNOON_NY + timedelta(hours=8)  # 23:00 in New York
    with session_scope(engine) as s:
        controls.set_paused(s, scope="all", paused=True, actor="key:m")
    with session_scope(engine) as s:
        held = check_action(s, email_action(), profile(), now=late)
    assert {v.check for v in held.verdicts if v.outcome == Outcome.hold} == {
        "quiet_hours",
        KILL_SWITCH,
    }
    assert held.hold_until == datetime(2026, 3, 4, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert not needs_person(held)  # a pause and a time release it: nobody needs to decide


def test_dry_run_writes_only_its_audit_entry(engine: Engine) -> None:
    with session_scope(engine) as s:
        report = check_text(s, text="Lose 10 pounds in a week!", source="generated", channel="sms")
    assert report.outcome == Outcome.escalate
    with Session(engine) as s:
        assert [e.kind for e in s.exec(select(AuditEntry)).all()] == ["guardrail.dry_run"]


def test_suitability_prechecks_drop_unsuitable_candidates(engine: Engine) -> None:
    with Session(engine) as s:
        checks = suitability_checks(s, None)
        p = profile(consent={"email": {"status": "unsubscribed"}})

        def run(channel: str, offer: dict) -> list[str]:
            spec = SimpleNamespace(channel=channel, offer=offer)
            return [v.check for c in checks if (v := c(p, spec, AFTERNOON_NY)) is not None]

        assert run("email", {}) == ["consent"]
        assert run("webhook", {"discount_pct": 60}) == ["offer_limits"]
        assert run("webhook", {"discount_pct": 10}) == []


def test_bad_policy_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    text = DEFAULT_POLICY_PATH.read_text().replace("max_discount_pct: 30", "max_discount_pct: lots")
    path.write_text(text)
    with pytest.raises(ValidationError, match="max_discount_pct"):
        load_policy(path)


def test_policy_version_changes_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(DEFAULT_POLICY_PATH.read_text().replace("overall: 4", "overall: 3"))
    assert load_policy(path).version_tag != load_policy(DEFAULT_POLICY_PATH).version_tag
