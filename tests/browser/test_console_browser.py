"""The console in a real browser: reviewers approve, guardrails refuse, roles hold, switches."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from core.controls import is_paused
from core.keys import Role
from core.tables import AuditEntry, Review
from tests.browser.conftest import LiveServer, login, screenshot

pytestmark = pytest.mark.browser


def test_reviewer_approves_a_flagged_email_with_the_keyboard(
    page: Any, live_server: LiveServer
) -> None:
    """The queue shows the email as sent, why and how risky; Enter approves it (audited).

    That an approval resumes the journey and the email reaches the SMTP inbox is
    test_console_journey.py's end-to-end test.
    """
    scene = live_server.scene
    login(page, live_server, scene.keys[Role.reviewer])
    expect(page).to_have_url(f"{live_server.url}/console/reviews")
    card = page.locator(f"#review-{scene.review_id}")
    expect(card.get_by_test_id("email-preview")).to_contain_text("You left something")
    frame = card.frame_locator("iframe.email")
    expect(frame.locator("h1")).to_have_text("Still thinking it over?")
    expect(card.get_by_test_id("warnings")).to_contain_text("discount_claim_unverified")
    expect(card).to_contain_text("1 candidate(s) ruled out")  # the decision's "why"
    expect(page.locator(f"#review-{scene.sms_review_id} .countdown")).to_contain_text("overdue")
    screenshot(page, "review-queue")

    card.get_by_test_id("approve").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("flash")).to_contain_text("Approved")
    expect(page.locator(f"#review-{scene.review_id}")).to_have_count(0)
    with Session(live_server.engine) as session:
        review = session.get(Review, scene.review_id)
        assert review is not None and review.status == "approved"
        approvals = session.exec(
            select(AuditEntry).where(AuditEntry.kind == "review.approved",
                                     AuditEntry.subject_id == scene.review_id)
        ).all()  # fmt: skip
    assert len(approvals) == 1 and approvals[0].actor.startswith("key:")


def test_an_edit_that_breaks_a_guardrail_is_refused_and_nothing_changes(
    page: Any, live_server: LiveServer
) -> None:
    scene = live_server.scene
    with Session(live_server.engine) as session:
        before = session.get(Review, scene.sms_review_id)
        assert before is not None
        before_hash = before.content_hash
    login(page, live_server, scene.keys[Role.reviewer])
    card = page.locator(f"#review-{scene.sms_review_id}")
    card.get_by_text("Edit (a second reviewer approves the edit)").click()
    field = card.get_by_label("text")
    field.fill("Guaranteed results: 100% free shoes for life, risk-free!")
    expect(card.get_by_test_id("live-outcome")).to_contain_text("block")  # live re-check
    card.get_by_test_id("edit-save").click()
    refusal = page.locator(f"#review-{scene.sms_review_id}").get_by_test_id("refusal")
    expect(refusal).to_contain_text("Refused")
    screenshot(page, "review-edit-refused")
    with Session(live_server.engine) as session:
        after = session.get(Review, scene.sms_review_id)
        assert after is not None
        assert (after.status, after.content_hash) == ("pending", before_hash)


def test_marketer_cannot_reach_reviewer_actions(page: Any, live_server: LiveServer) -> None:
    scene = live_server.scene
    login(page, live_server, scene.keys[Role.marketer])
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Review queue")
    response = page.goto(f"{live_server.url}/console/reviews")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("may not see or resolve the review queue")
    # A forged approval from the marketer's own session is refused too.
    csrf = page.locator('input[name="csrf"]').first.input_value()
    answer = page.request.post(
        f"{live_server.url}/console/reviews/{scene.sms_review_id}/approve",
        form={"csrf": csrf, "content_hash": "x"},
    )
    assert answer.status == 403
    with Session(live_server.engine) as session:
        review = session.get(Review, scene.sms_review_id)
        assert review is not None and review.status == "pending"


def test_marketer_pauses_a_channel_from_the_console(page: Any, live_server: LiveServer) -> None:
    scene = live_server.scene
    login(page, live_server, scene.keys[Role.marketer])
    expect(page).to_have_url(f"{live_server.url}/console/dashboard")
    expect(page.get_by_test_id("chart-activity").locator(".main-svg").first).to_be_visible()
    screenshot(page, "dashboard")
    switch = page.get_by_test_id("killswitch")
    switch.get_by_label("Pause", exact=True).select_option("channel:sms")
    switch.get_by_role("button", name="Pause", exact=True).click()
    expect(page.get_by_test_id("killswitch")).to_contain_text("channel sms")
    with Session(live_server.engine) as session:
        assert is_paused(session, channel="sms")
        assert not is_paused(session, channel="email")
    for name, path in [
        ("customer", f"/console/customers/{scene.customer_id}"),
        ("journey", "/console/journeys/cart-recovery"),
        ("journeys", "/console/journeys"),
    ]:
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_test_id("killswitch")).to_contain_text("channel sms")
        screenshot(page, name)
    page.get_by_role("button", name="Resume sms").click()
    expect(page.get_by_test_id("killswitch")).to_contain_text("All sending is running")


def test_admin_sees_the_audit_log_with_an_intact_chain(page: Any, live_server: LiveServer) -> None:
    login(page, live_server, live_server.scene.keys[Role.admin])
    page.goto(f"{live_server.url}/console/audit")
    expect(page.get_by_test_id("chain")).to_contain_text("intact")
    expect(page.get_by_test_id("audit")).to_contain_text("guardrail.checked")
    screenshot(page, "audit")
