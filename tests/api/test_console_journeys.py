"""The journeys pages: the running version beside its proposals, accepting one, holdout figures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agents.journey.store import load_spec, save_journey
from agents.outcomes import holdout_comparison
from agents.tables import JourneyAssignment
from api.web.journey_service import CONSOLE_CONVERSATION
from api.web.pages.journeys import group_versions
from core.clock import utcnow
from core.db import session_scope
from core.keys import Role
from core.tables import ApiKey, AuditEntry, Event, Journey
from tests.api.test_console import sign_in
from tests.browser.seed import JOURNEY_YAML, Scene, seed

PROPOSED_YAML = JOURNEY_YAML.replace("version: 1", "version: 2").replace(
    "duration: 1d", "duration: 2d"
)
SLUG = "cart-recovery"
DASH = "\u2013"  # an en dash: the console writes intervals as "low<dash>high"


@pytest.fixture
def scene(sqlite_engine: Engine) -> Scene:
    return seed(sqlite_engine)


@pytest.fixture
def console(client: TestClient) -> Iterator[TestClient]:
    client.follow_redirects = False
    yield client
    client.cookies.clear()


@pytest.fixture
def proposal_id(sqlite_engine: Engine, scene: Scene) -> str:
    """v2 saved as a proposal, as the chat agent's draft_journey does."""
    with session_scope(sqlite_engine) as session:
        return save_journey(session, PROPOSED_YAML, actor="key:chat", status="proposed").id


def _row(page: str, slug: str) -> str:
    return page.split(f'data-testid="journey-{slug}"', 1)[1].split("</tr>", 1)[0]


def _accepted(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.kind == "journey.accepted")))


def _status(engine: Engine, journey_id: str) -> str:
    with Session(engine) as session:
        row = session.get(Journey, journey_id)
        assert row is not None
        return row.status


def test_list_shows_the_running_version_and_the_proposal_beside_it(
    console: TestClient, scene: Scene, proposal_id: str
) -> None:
    sign_in(console, scene.keys[Role.marketer])
    row = _row(console.get("/console/journeys").text, SLUG)
    assert re.search(r'data-testid="running-version">v1<', row)
    assert ">active<" in row and "waiting_review 1" in row  # status and run counts
    assert "v2 proposed" in row and f"#proposal-{proposal_id}" in row


def test_journey_page_diffs_the_proposal_against_the_running_version(
    console: TestClient, scene: Scene, proposal_id: str
) -> None:
    sign_in(console, scene.keys[Role.marketer])
    page = console.get(f"/console/journeys/{SLUG}").text
    assert 'Cart recovery <code class="muted">cart-recovery v1</code>' in page
    proposal = page.split(f'id="proposal-{proposal_id}"', 1)[1].split("</section>", 1)[0]
    assert '<span class="diff-del">-    duration: 1d</span>' in proposal
    assert '<span class="diff-add">+    duration: 2d</span>' in proposal
    assert f"/console/journeys/{SLUG}/proposals/{proposal_id}/accept" in proposal


def test_marketer_accepts_after_confirming_and_it_is_audited(
    console: TestClient, scene: Scene, proposal_id: str, sqlite_engine: Engine
) -> None:
    csrf = sign_in(console, scene.keys[Role.marketer])
    url = f"/console/journeys/{SLUG}/proposals/{proposal_id}/accept"
    confirm = console.get(url)
    assert confirm.status_code == 200
    assert 'name="confirm" value="yes"' in confirm.text and "v2 becomes the active" in confirm.text

    assert console.post(url, data={"confirm": "yes"}).status_code == 403  # no CSRF token
    skipped = console.post(url, data={"csrf": csrf})  # no confirmation: ask first
    assert (skipped.status_code, skipped.headers["location"]) == (303, url)
    assert _status(sqlite_engine, proposal_id) == "proposed" and _accepted(sqlite_engine) == []

    done = console.post(url, data={"csrf": csrf, "confirm": "yes"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/journeys/{SLUG}?done=accepted"
    assert _status(sqlite_engine, proposal_id) == "active"
    with Session(sqlite_engine) as session:
        spec = load_spec(session, SLUG)
        marketer = session.exec(select(ApiKey).where(ApiKey.name == "console-marketer")).one()
    assert spec is not None and spec.version == 2  # what runs from now on
    (entry,) = _accepted(sqlite_engine)
    assert (entry.actor, entry.subject_id) == (f"key:{marketer.id}", proposal_id)
    assert entry.payload["conversation_id"] == CONSOLE_CONVERSATION

    row = _row(console.get("/console/journeys").text, SLUG)
    assert re.search(r'data-testid="running-version">v2<', row) and "diff and accept" not in row
    again = console.post(url, data={"csrf": csrf, "confirm": "yes"})
    assert again.status_code == 409 and "nothing to accept" in again.text
    assert len(_accepted(sqlite_engine)) == 1


def test_reviewer_cannot_accept_a_proposal(
    console: TestClient, scene: Scene, proposal_id: str, sqlite_engine: Engine
) -> None:
    csrf = sign_in(console, scene.keys[Role.reviewer])
    url = f"/console/journeys/{SLUG}/proposals/{proposal_id}/accept"
    assert console.get(url).status_code == 403
    assert console.post(url, data={"csrf": csrf, "confirm": "yes"}).status_code == 403
    assert _status(sqlite_engine, proposal_id) == "proposed" and _accepted(sqlite_engine) == []


def test_a_proposal_that_no_longer_validates_is_refused_and_nothing_changes(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    broken = PROPOSED_YAML.replace("kind: wait", "kind: teleport")
    with session_scope(sqlite_engine) as session:
        row = Journey(slug=SLUG, version=2, name="Cart recovery", definition=broken,
                      status="proposed", created_by="key:chat")  # fmt: skip
        session.add(row)
        session.flush()
        bad_id = row.id
    csrf = sign_in(console, scene.keys[Role.marketer])
    answer = console.post(
        f"/console/journeys/{SLUG}/proposals/{bad_id}/accept",
        data={"csrf": csrf, "confirm": "yes"},
    )
    assert answer.status_code == 422 and "does not validate" in answer.text
    assert "steps" in answer.text  # the error names the field
    assert _status(sqlite_engine, bad_id) == "proposed" and _accepted(sqlite_engine) == []


def test_a_new_journey_with_only_a_proposal_is_listed_as_not_running(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    new_yaml = JOURNEY_YAML.replace("slug: cart-recovery", "slug: win-back").replace(
        "name: Cart recovery", "name: Win back"
    )
    with session_scope(sqlite_engine) as session:
        save_journey(session, new_yaml, actor="key:chat", status="proposed")
    sign_in(console, scene.keys[Role.marketer])
    row = _row(console.get("/console/journeys").text, "win-back")
    assert "none yet" in row and "v1 proposed" in row
    page = console.get("/console/journeys/win-back")
    assert page.status_code == 200 and "not running" in page.text and "(a new journey)" in page.text


def test_older_proposals_than_the_running_version_are_not_offered() -> None:
    rows = [
        Journey(slug="a", version=1, name="A", definition="", status="active"),
        Journey(slug="a", version=2, name="A", definition="", status="proposed"),
        Journey(slug="a", version=3, name="A", definition="", status="active"),
        Journey(slug="a", version=4, name="A", definition="", status="proposed"),
    ]
    (only,) = group_versions(rows)
    assert only.current is not None and only.current.version == 3
    assert [p.version for p in only.proposals] == [4]


def test_journey_page_shows_treated_vs_holdout_with_intervals(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    start = utcnow() - timedelta(days=10)
    arms = [("t1", "treated", 80.0), ("t2", "treated", None), ("t3", "treated", 40.0),
            ("h1", "control", None), ("h2", "control", 30.0)]  # fmt: skip
    with session_scope(sqlite_engine) as session:
        for i, (cid, arm, revenue) in enumerate(arms):
            session.add(JourneyAssignment(run_id=f"r{i}", journey_slug=SLUG, customer_id=cid,
                                          arm=arm, assigned_at=start))  # fmt: skip
            if revenue is not None:
                session.add(Event(message_id=f"o{i}", type="track", event="Order Completed",
                                  customer_id=cid, timestamp=start + timedelta(days=1),
                                  properties={"revenue": revenue}))  # fmt: skip
    with Session(sqlite_engine) as session:  # what the chat's journey_performance reports
        expected = holdout_comparison(session, SLUG, spec=load_spec(session, SLUG))
    sign_in(console, scene.keys[Role.marketer])
    page = console.get(f"/console/journeys/{SLUG}").text
    section = page.split('data-testid="holdout"', 1)[1].split("</section>", 1)[0]
    treated = section.split('data-testid="arm-treated"', 1)[1].split("</tr>", 1)[0]
    held = section.split('data-testid="arm-holdout"', 1)[1].split("</tr>", 1)[0]
    t, c = expected.treated, expected.control
    assert (t.customers, t.conversions, c.customers, c.conversions) == (3, 2, 2, 1)
    for row, figures in ((treated, t), (held, c)):
        low, high = (v * 100 for v in figures.conversion_rate_ci)
        assert f"{figures.conversion_rate * 100:.1f}% ({low:.1f}{DASH}{high:.1f}%)" in row
        low, high = figures.revenue_per_customer_ci
        assert f"{figures.revenue_per_customer:.2f} ({low:.2f}{DASH}{high:.2f})" in row
    assert f"{expected.conversion_lift * 100:+.1f} points" in section
    assert "Order Completed" in section and "3d" in section  # the journey's own goal window
    assert "too few to trust" in section
