"""Email previews in the console: text stays text, nothing loads remotely, merge fields filled."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.web.email_preview import (
    PREVIEW_CSP,
    SAMPLE_UNSUBSCRIBE_TOKEN,
    email_preview,
    html_document,
)
from core.db import session_scope
from core.keys import Role
from core.tables import Review
from guardrails.policy import default_policy
from tests.api.test_console import sign_in
from tests.browser.seed import EMAIL, Scene, make_review, seed

TRACKER = "<img src=http://tracker.example/p.gif?r=1>"
CSP_META = f'<meta http-equiv="Content-Security-Policy" content="{PREVIEW_CSP}">'


class _Iframes(HTMLParser):
    """Every iframe's attributes, with their values unescaped as a browser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "iframe":
            self.frames.append({k: v or "" for k, v in attrs})


def iframes(page: str) -> list[dict[str, str]]:
    parser = _Iframes()
    parser.feed(page)
    return parser.frames


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> _Tags:
    parser = _Tags()
    parser.feed(document)
    return parser


@pytest.fixture
def scene(sqlite_engine: Engine) -> Scene:
    return seed(sqlite_engine)


@pytest.fixture
def console(client: TestClient) -> Iterator[TestClient]:
    client.follow_redirects = False
    yield client
    client.cookies.clear()


def _text_only_review(engine: Engine, scene: Scene) -> str:
    content = {
        "subject": "Plain text only",
        "body_text": f"Hi Ada {TRACKER} see you.\n{{{{physical_address}}}} {{{{unsubscribe_url}}}}",
    }
    with session_scope(engine) as session:
        row = make_review(session, customer_id=scene.customer_id, decision_id=None,
                          content=content)  # fmt: skip
        return row.id


def _frame_of(page: str, review_id: str) -> dict[str, str]:
    card = page.split(f'id="review-{review_id}"', 1)[1].split("</article>", 1)[0]
    (frame,) = iframes(card)
    return frame


def test_plain_text_body_is_shown_as_text_not_markup(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    review_id = _text_only_review(sqlite_engine, scene)
    sign_in(console, scene.keys[Role.reviewer])
    frame = _frame_of(console.get("/console/reviews").text, review_id)
    inner = parse(frame["srcdoc"])
    assert "img" not in inner.tags  # the tracker pixel is not an element
    assert TRACKER in "".join(inner.text)  # the reviewer reads it literally
    assert CSP_META in frame["srcdoc"]


def test_every_preview_frame_is_sandboxed_with_no_referrer_and_the_csp(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    _text_only_review(sqlite_engine, scene)
    sign_in(console, scene.keys[Role.reviewer])
    frames = iframes(console.get("/console/reviews").text)
    assert len(frames) == 2  # the seeded HTML email and the plain-text one
    for frame in frames:
        assert frame["sandbox"] == "" and frame["referrerpolicy"] == "no-referrer"
        before_csp = frame["srcdoc"].split(CSP_META)[0]  # nothing can load before the policy
        assert before_csp in ("", "<!doctype html><html><head>"), before_csp


def test_preview_fills_merge_fields_but_approval_binds_the_stored_content(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    address = default_policy().email.physical_address
    assert address, "the shipped policy names a physical address"
    csrf = sign_in(console, scene.keys[Role.reviewer])
    page = console.get("/console/reviews").text
    frame = _frame_of(page, scene.review_id)["srcdoc"]
    assert "{{physical_address}}" not in frame and "{{unsubscribe_url}}" not in frame
    assert address in frame
    assert f"href='http://testserver/u/{SAMPLE_UNSUBSCRIBE_TOKEN}'" in frame
    card = page.split(f'id="review-{scene.review_id}"', 1)[1].split("</article>", 1)[0]
    assert "sample" in card and "filled in from the guardrail policy" in card
    assert "{{physical_address}}" in card  # the edit form keeps the stored placeholders

    with Session(sqlite_engine) as session:
        stored = session.get(Review, scene.review_id)
        assert stored is not None
        assert stored.content == EMAIL  # nothing was written back
        stored_hash = stored.content_hash
    assert f'name="content_hash" value="{stored_hash}"' in card
    approved = console.post(
        f"/console/reviews/{scene.review_id}/approve",
        data={"csrf": csrf, "content_hash": stored_hash},
    )
    assert approved.status_code == 303
    with Session(sqlite_engine) as session:
        done = session.get(Review, scene.review_id)
        assert done is not None and done.status == "approved" and done.content == EMAIL


def test_captured_email_in_the_inbox_is_framed_with_the_csp(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    from tools.tables import CapturedEmail

    with session_scope(sqlite_engine) as session:
        session.add(
            CapturedEmail(
                message_id="<m1@test>",
                mail_from="hello@cjo.example",
                rcpt_to=["ada@example.com"],
                subject="Captured",
                html=f"<!doctype html><html><body><p>Hi</p>{TRACKER}</body></html>",
                text="Hi",
            )
        )
    sign_in(console, scene.keys[Role.marketer])
    (frame,) = iframes(console.get("/console/outbox?channel=email").text)
    assert frame["sandbox"] == "" and frame["referrerpolicy"] == "no-referrer"
    assert frame["srcdoc"].startswith("<!doctype html>" + CSP_META)


def test_html_document_puts_the_csp_after_the_doctype_or_first() -> None:
    assert html_document("<!DOCTYPE html><p>x</p>").startswith("<!DOCTYPE html>" + CSP_META)
    assert html_document("<p>x</p>").startswith(CSP_META)


def test_merge_field_values_are_escaped_in_html_but_not_in_text() -> None:
    content = {"subject": "s", "body_html": "<p>{{unsubscribe_url}}</p>"}
    preview = email_preview(content, base_url="http://h/?a=1&b=2")
    assert "http://h/?a=1&amp;b=2/u/" in preview.document
    text = email_preview({"subject": "s", "body_text": "{{unsubscribe_url}}"}, base_url="http://h&")
    assert "http://h&amp;/u/" in text.document  # escaped once by the text document, as text
    assert (text.fills_unsubscribe, text.fills_address, text.missing_address) == (
        True,
        False,
        False,
    )


def test_a_preview_without_merge_fields_has_no_note() -> None:
    preview = email_preview({"subject": "s", "body_text": "hello"}, base_url="http://h")
    assert not preview.uses_merge_fields
