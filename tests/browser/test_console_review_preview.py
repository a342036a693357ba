"""Review previews in a real browser: text stays text, trackers never load, four eyes shown."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from api.web.email_preview import SAMPLE_UNSUBSCRIBE_TOKEN
from core.db import session_scope
from core.keys import Role, create_key
from core.tables import Review
from guardrails.policy import default_policy
from tests.browser.conftest import LiveServer, login, screenshot, screenshot_of
from tests.browser.seed import make_review

pytestmark = pytest.mark.browser


class Tracker:
    """A loopback HTTP server standing in for an email tracker: it records every hit."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def tracker() -> Iterator[Tracker]:
    tracker = Tracker()
    thread = threading.Thread(target=tracker.server.serve_forever, daemon=True)
    thread.start()
    yield tracker
    tracker.server.shutdown()
    tracker.server.server_close()


def test_plain_text_email_shows_markup_literally_and_loads_nothing(
    page: Any, live_server: LiveServer, tracker: Tracker
) -> None:
    pixel = f"<img src={tracker.url}/pixel.gif>"
    with session_scope(live_server.engine) as session:
        text_review = make_review(
            session,
            customer_id=live_server.scene.customer_id,
            decision_id=None,
            content={
                "subject": "Plain text with a pixel",
                "body_text": f"Hi Ada, {pixel} see you soon.\n\n{{{{physical_address}}}}\n"
                "Unsubscribe: {{unsubscribe_url}}",
            },
        ).id
        html_review = make_review(
            session,
            customer_id=live_server.scene.customer_id,
            decision_id=None,
            content={
                "subject": "HTML with remote content",
                "body_html": f"<!doctype html><html><body><p>Hello</p>"
                f"<img alt='logo' src='{tracker.url}/logo.png'>"
                f"<div style='background:url({tracker.url}/bg.png)'>x</div>"
                f"<link rel='stylesheet' href='{tracker.url}/style.css'>"
                "<p>{{physical_address}} <a href='{{unsubscribe_url}}'>Unsubscribe</a></p>"
                "</body></html>",
            },
        ).id
    login(page, live_server, live_server.scene.keys[Role.reviewer])
    card = page.locator(f"#review-{text_review}")
    frame = card.frame_locator("iframe.email")
    expect(frame.locator("pre")).to_contain_text(pixel)  # the reviewer reads the markup
    expect(frame.locator("img")).to_have_count(0)
    expect(frame.locator("pre")).to_contain_text(default_policy().email.physical_address)
    expect(frame.locator("pre")).to_contain_text(f"/u/{SAMPLE_UNSUBSCRIBE_TOKEN}")
    expect(frame.locator("pre")).not_to_contain_text("{{")
    screenshot_of(card, "review-preview-plain-text")

    rich = page.locator(f"#review-{html_review}").frame_locator("iframe.email")
    expect(rich.locator("img")).to_have_count(1)  # there, but blocked by the frame's CSP
    link = rich.get_by_role("link", name="Unsubscribe")
    expect(link).to_have_attribute("href", f"{live_server.url}/u/{SAMPLE_UNSUBSCRIBE_TOKEN}")
    link.click()  # links in a preview open nothing
    rich_card = page.locator(f"#review-{html_review}")
    expect(rich_card.get_by_test_id("merge-note")).to_contain_text("sample")
    screenshot_of(rich_card, "review-preview-html-remote-blocked")
    page.wait_for_load_state("networkidle")
    assert tracker.hits == []
    with Session(live_server.engine) as session:
        stored = session.get(Review, text_review)
        assert stored is not None and "{{unsubscribe_url}}" in stored.content["body_text"]


def test_the_editor_cannot_approve_their_edit_and_a_second_reviewer_can(
    page: Any, live_server: LiveServer
) -> None:
    scene = live_server.scene
    with session_scope(live_server.engine) as session:
        second = create_key(session, role=Role.reviewer, name="Grace (second reviewer)").key
    login(page, live_server, scene.keys[Role.reviewer])
    card = page.locator(f"#review-{scene.review_id}")
    card.get_by_text("Edit (a second reviewer approves the edit)").click()
    card.get_by_label("subject").fill("Your trail shoes are still here")
    card.get_by_test_id("edit-save").click()
    expect(page.get_by_test_id("flash")).to_contain_text("awaits a second reviewer")
    card = page.locator(f"#review-{scene.review_id}")
    expect(card.get_by_test_id("awaiting-second")).to_have_text(
        "Edited by you · awaiting a second reviewer"
    )
    approve = card.get_by_test_id("approve")
    expect(approve).to_be_disabled()
    expect(approve).to_have_accessible_description(
        "You edited this content, so a second reviewer must approve it: "
        "a reviewer cannot approve content they edited themselves."
    )
    screenshot(page, "review-awaiting-second-reviewer")
    screenshot_of(card, "review-awaiting-second-reviewer-card")

    browser_context = page.context
    browser_context.clear_cookies()
    login(page, live_server, second)
    card = page.locator(f"#review-{scene.review_id}")
    expect(card.get_by_test_id("awaiting-second")).to_contain_text("Edited by console-reviewer")
    card.get_by_test_id("approve").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("flash")).to_contain_text("Approved")
    with Session(live_server.engine) as session:
        review = session.get(Review, scene.review_id)
        assert review is not None and review.status == "approved"
        assert review.content["subject"] == "Your trail shoes are still here"
        assert review.edited_by != review.resolved_by


def test_reviewer_sees_neither_the_chat_nor_the_marketer_pages(
    page: Any, live_server: LiveServer
) -> None:
    """POST /v1/chat is marketer-only (CONTRACT.md): a reviewer gets no panel whose every
    message would be refused; the review queue is theirs."""
    login(page, live_server, live_server.scene.keys[Role.reviewer])
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_contain_text("Review queue")
    expect(nav).not_to_contain_text("Journeys")
    expect(nav).not_to_contain_text("Chat")
    screenshot(page, "nav-reviewer")
