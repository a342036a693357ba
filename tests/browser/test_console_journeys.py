"""Journeys in a real browser: a proposal beside the running version, accepted after confirming."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from core.clock import utcnow
from core.db import session_scope
from core.keys import Role
from core.tables import AuditEntry, Event, Journey
from tests.browser.conftest import LiveServer, login, screenshot, screenshot_of
from tests.browser.seed import JOURNEY_YAML

store = pytest.importorskip("agents.journey.store", reason="agents/ not in this build")
agent_tables = pytest.importorskip("agents.tables", reason="agents/ not in this build")

pytestmark = pytest.mark.browser

SLUG = "cart-recovery"
PROPOSED_YAML = JOURNEY_YAML.replace("version: 1", "version: 2").replace(
    "duration: 1d", "duration: 2d"
)


def _seed_assignments(live_server: LiveServer) -> None:
    start = utcnow() - timedelta(days=5)
    with session_scope(live_server.engine) as session:
        for i in range(40):
            arm = "control" if i % 4 == 0 else "treated"
            cid = f"hold-{i}"
            session.add(agent_tables.JourneyAssignment(
                run_id=f"hold-run-{i}", journey_slug=SLUG, customer_id=cid, arm=arm,
                assigned_at=start))  # fmt: skip
            if i % 3 == 0:
                session.add(Event(
                    message_id=f"hold-order-{i}", type="track", event="Order Completed",
                    customer_id=cid, timestamp=start + timedelta(days=1),
                    properties={"revenue": 20.0 + i}))  # fmt: skip


def test_marketer_accepts_a_proposal_with_the_keyboard_after_confirming(
    page: Any, live_server: LiveServer
) -> None:
    with session_scope(live_server.engine) as session:
        proposal = store.save_journey(session, PROPOSED_YAML, actor="key:chat", status="proposed")
        proposal_id = proposal.id
    _seed_assignments(live_server)
    login(page, live_server, live_server.scene.keys[Role.marketer])
    page.goto(f"{live_server.url}/console/journeys")
    row = page.get_by_test_id(f"journey-{SLUG}")
    expect(row.get_by_test_id("running-version")).to_have_text("v1")
    expect(row.get_by_test_id("proposed")).to_contain_text("v2 proposed")
    screenshot(page, "journeys-with-proposal")

    row.get_by_role("link", name="diff and accept v2 of Cart recovery").click()
    section = page.locator(f"#proposal-{proposal_id}")
    expect(section.get_by_test_id("diff")).to_contain_text("+    duration: 2d")
    holdout = page.get_by_test_id("holdout")
    for arm, customers in (("treated", "30"), ("holdout", "10")):
        cells = holdout.get_by_test_id(f"arm-{arm}").get_by_role("cell")
        expect(cells.first).to_have_text(customers)
        expect(cells.nth(2)).to_contain_text("%")  # the rate with its interval
    expect(holdout.get_by_test_id("lift")).to_contain_text("95% CI")
    screenshot_of(section, "journey-proposal-diff")
    screenshot_of(holdout, "journey-holdout")
    screenshot(page, "journey-with-proposal")

    section.get_by_test_id("accept").focus()
    page.keyboard.press("Enter")  # the confirmation page: nothing accepted yet
    expect(page.get_by_test_id("confirm-accept")).to_contain_text("v2 becomes the active version")
    with Session(live_server.engine) as session:
        row_now = session.get(Journey, proposal_id)
        assert row_now is not None and row_now.status == "proposed"
    screenshot(page, "journey-accept-confirm")
    page.get_by_test_id("confirm").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("flash")).to_contain_text("Accepted")
    expect(page.get_by_role("heading", level=1)).to_contain_text("cart-recovery v2")
    with Session(live_server.engine) as session:
        accepted = session.get(Journey, proposal_id)
        assert accepted is not None and accepted.status == "active"
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.kind == "journey.accepted",
                                     AuditEntry.subject_id == proposal_id)
        ).all()  # fmt: skip
    assert len(entries) == 1 and entries[0].actor.startswith("key:")
    page.goto(f"{live_server.url}/console/journeys")
    expect(page.get_by_test_id(f"journey-{SLUG}").get_by_test_id("running-version")).to_have_text(
        "v2"
    )
