"""The console over HTTP (no browser): sign-in cookie, CSRF, role limits, offline assets."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from core.controls import is_paused
from core.keys import Role
from core.tables import AuditEntry, Review
from tests.browser.seed import Scene, seed


@pytest.fixture
def scene(sqlite_engine: Engine) -> Scene:
    return seed(sqlite_engine)


@pytest.fixture
def console(client: TestClient) -> Iterator[TestClient]:
    client.follow_redirects = False
    yield client
    client.cookies.clear()


def sign_in(client: TestClient, key: str) -> str:
    """Sign in through the form; return the page's CSRF token."""
    answer = client.post("/console/login", data={"key": key})
    assert answer.status_code == 303
    page = client.get("/console/", follow_redirects=True)
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match, "signed-in pages carry a CSRF token"
    return match.group(1)


def audit_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(AuditEntry)).one()


def test_root_sends_visitors_to_sign_in(console: TestClient) -> None:
    assert console.get("/").headers["location"] == "/console/"
    assert console.get("/console/").headers["location"] == "/console/login"
    assert console.get("/console/reviews").headers["location"] == "/console/login"


def test_unknown_key_is_refused_with_a_message(console: TestClient, scene: Scene) -> None:
    answer = console.post("/console/login", data={"key": "cjo_rev_not-a-key"})
    assert answer.status_code == 401
    assert "unknown or revoked" in answer.text
    assert "cjo_key" not in answer.headers.get("set-cookie", "")


def test_sign_in_sets_an_httponly_samesite_strict_cookie(console: TestClient, scene: Scene) -> None:
    answer = console.post("/console/login", data={"key": scene.keys[Role.reviewer]})
    cookie = answer.headers["set-cookie"].lower()
    assert "cjo_key=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert console.get("/console/").headers["location"] == "/console/reviews"


def test_post_without_csrf_token_is_refused_and_writes_nothing(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    sign_in(console, scene.keys[Role.marketer])
    before = audit_count(sqlite_engine)
    answer = console.post("/console/controls/pause", data={"what": "all:*"})
    assert answer.status_code == 403
    forged = console.post("/console/controls/pause", data={"what": "all:*", "csrf": "0" * 40})
    assert forged.status_code == 403
    assert audit_count(sqlite_engine) == before
    with Session(sqlite_engine) as session:
        assert not is_paused(session, channel="email")


def test_cross_origin_post_is_refused(console: TestClient, scene: Scene) -> None:
    csrf = sign_in(console, scene.keys[Role.marketer])
    answer = console.post(
        "/console/controls/pause",
        data={"what": "all:*", "csrf": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403


def test_marketer_pause_and_resume_a_journey_are_audited(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    csrf = sign_in(console, scene.keys[Role.marketer])
    answer = console.post(
        "/console/controls/pause",
        data={"what": "journey:cart-recovery", "csrf": csrf, "next": "/console/journeys"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/journeys"
    with Session(sqlite_engine) as session:
        assert is_paused(session, journey_slug="cart-recovery")
    console.post(
        "/console/controls/resume",
        data={"scope": "journey", "target": "cart-recovery", "csrf": csrf},
    )
    with Session(sqlite_engine) as session:
        assert not is_paused(session, journey_slug="cart-recovery")
        kinds = session.exec(
            select(AuditEntry.kind).where(col(AuditEntry.kind).like("control.%"))
        ).all()
    assert kinds == ["control.paused", "control.resumed"]


def test_unknown_channel_cannot_be_paused(console: TestClient, scene: Scene) -> None:
    csrf = sign_in(console, scene.keys[Role.marketer])
    answer = console.post("/console/controls/pause", data={"what": "channel:fax", "csrf": csrf})
    assert answer.status_code == 422
    assert "unknown channel" in answer.text


def test_reviewer_cannot_pause_and_sees_why(console: TestClient, scene: Scene) -> None:
    csrf = sign_in(console, scene.keys[Role.reviewer])
    answer = console.post("/console/controls/pause", data={"what": "all:*", "csrf": csrf})
    assert answer.status_code == 403
    assert "may not pause or resume sending" in answer.text


def test_open_redirects_are_not_followed(console: TestClient, scene: Scene) -> None:
    csrf = sign_in(console, scene.keys[Role.marketer])
    answer = console.post(
        "/console/controls/resume",
        data={"scope": "all", "csrf": csrf, "next": "//evil.example/"},
    )
    assert answer.headers["location"] == "/console/"


@pytest.mark.parametrize(
    ("role", "visible", "hidden"),
    [
        (
            Role.reviewer,
            ["Review queue", "Dashboard"],
            ["Customers", "Journeys", "Audit log", "Outboxes", "Chat"],
        ),
        (Role.marketer, ["Customers", "Journeys", "Outboxes"], ["Review queue", "Audit log"]),
        (Role.admin, ["Review queue", "Customers", "Audit log"], []),
    ],
)
def test_navigation_shows_only_what_the_role_may_use(
    console: TestClient, scene: Scene, role: Role, visible: list[str], hidden: list[str]
) -> None:
    sign_in(console, scene.keys[role])
    nav = console.get("/console/dashboard").text.split('<nav aria-label="Main">')[1]
    nav = nav.split("</nav>")[0]
    for label in visible:
        assert label in nav
    for label in hidden:
        assert label not in nav


def test_reviewer_rejects_with_a_reason_only(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    csrf = sign_in(console, scene.keys[Role.reviewer])
    url = f"/console/reviews/{scene.sms_review_id}/reject"
    empty = console.post(url, data={"csrf": csrf, "reason": "  "})
    assert empty.status_code == 422 and "say why" in empty.text
    done = console.post(url, data={"csrf": csrf, "reason": "tone is off for this customer"})
    assert done.status_code == 303
    with Session(sqlite_engine) as session:
        review = session.get(Review, scene.sms_review_id)
        assert review is not None and review.status == "rejected"
    again = console.post(url, data={"csrf": csrf, "reason": "again"})
    assert again.status_code == 409 and "already rejected" in again.text


def test_approving_content_that_changed_is_a_conflict(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    csrf = sign_in(console, scene.keys[Role.reviewer])
    answer = console.post(
        f"/console/reviews/{scene.review_id}/approve",
        data={"csrf": csrf, "content_hash": "0" * 64},
    )
    assert answer.status_code == 409
    with Session(sqlite_engine) as session:
        review = session.get(Review, scene.review_id)
        assert review is not None and review.status == "pending"


def test_pages_load_every_asset_from_the_app_itself(console: TestClient, scene: Scene) -> None:
    sign_in(console, scene.keys[Role.admin])
    for path in ["/console/dashboard", "/console/reviews", "/console/journeys/cart-recovery"]:
        html = console.get(path).text
        sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
        assert sources and all(s.startswith(("/console/static/", "data:")) for s in sources), path
    plotly = console.get("/console/static/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
    assert console.get("/console/static/../app.py").status_code == 404


def test_email_creative_is_rendered_in_a_sandboxed_iframe(
    console: TestClient, scene: Scene
) -> None:
    sign_in(console, scene.keys[Role.reviewer])
    html = console.get("/console/reviews").text
    frame = re.search(r"<iframe[^>]*srcdoc=[^>]*>", html)
    assert frame is not None
    assert 'sandbox=""' in frame.group(0)
    assert "&lt;h1" in frame.group(0)  # the email HTML is escaped into srcdoc, not inlined


def test_edited_content_needs_a_second_reviewer_to_approve(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    from core.db import session_scope
    from core.keys import create_key

    csrf = sign_in(console, scene.keys[Role.reviewer])
    edited = console.post(
        f"/console/reviews/{scene.review_id}/edit",
        data={"csrf": csrf, "content.subject": "Your trail shoes are still here"},
    )
    assert edited.status_code == 303
    assert edited.headers["location"] == "/console/reviews?done=edited_needs_second"
    with Session(sqlite_engine) as session:
        review = session.get(Review, scene.review_id)
        assert review is not None and review.status == "pending"
        assert review.content["subject"] == "Your trail shoes are still here"
        new_hash = review.content_hash
    mine = console.post(
        f"/console/reviews/{scene.review_id}/approve",
        data={"csrf": csrf, "content_hash": new_hash},
    )
    assert mine.status_code == 403 and "another reviewer" in mine.text

    with session_scope(sqlite_engine) as session:
        second = create_key(session, role=Role.reviewer, name="second reviewer").key
    console.cookies.clear()
    csrf = sign_in(console, second)
    approved = console.post(
        f"/console/reviews/{scene.review_id}/approve",
        data={"csrf": csrf, "content_hash": new_hash},
    )
    assert approved.status_code == 303
    with Session(sqlite_engine) as session:
        review = session.get(Review, scene.review_id)
        assert review is not None and review.status == "approved"


def _card(page: str, review_id: str) -> str:
    return page.split(f'id="review-{review_id}"', 1)[1].split("</article>", 1)[0]


def _approve_button(card: str) -> str:
    match = re.search(r'<button[^>]*data-testid="approve"[^>]*>', card)
    assert match, "every pending review has an approve button"
    return match.group(0)


def test_edited_review_says_it_awaits_a_second_reviewer_and_who_edited_it(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    from core.db import session_scope
    from core.keys import create_key
    from core.tables import ApiKey

    csrf = sign_in(console, scene.keys[Role.reviewer])
    before = _card(console.get("/console/reviews").text, scene.review_id)
    assert "disabled" not in _approve_button(before) and "awaiting a second" not in before
    console.post(
        f"/console/reviews/{scene.review_id}/edit",
        data={"csrf": csrf, "content.subject": "Your trail shoes are still here"},
    )
    page = console.get("/console/reviews?done=edited_needs_second").text
    assert "awaits a second reviewer" in page  # the flash
    mine = _card(page, scene.review_id)
    assert "Edited by you · awaiting a second reviewer" in mine
    button = _approve_button(mine)
    assert "disabled" in button and f'aria-describedby="own-edit-{scene.review_id}"' in button
    assert f'id="own-edit-{scene.review_id}"' in mine
    assert "cannot approve content they edited themselves" in mine

    with session_scope(sqlite_engine) as session:
        second = create_key(session, role=Role.reviewer, name="second reviewer").key
        editor = session.exec(select(ApiKey).where(ApiKey.name == "console-reviewer")).one()
    console.cookies.clear()
    sign_in(console, second)
    theirs = _card(console.get("/console/reviews").text, scene.review_id)
    assert f"Edited by console-reviewer (key:{editor.id}) · awaiting a second reviewer" in theirs
    assert "disabled" not in _approve_button(theirs)


def test_chat_panel_is_for_marketers_and_talks_to_the_chat_api(
    console: TestClient, scene: Scene
) -> None:
    sign_in(console, scene.keys[Role.marketer])
    page = console.get("/console/chat")
    assert page.status_code == 200
    assert 'id="chat-form"' in page.text and "/console/static/chat.js" in page.text
    script = console.get("/console/static/chat.js")
    assert script.status_code == 200 and 'fetch("/v1/chat"' in script.text
    console.cookies.clear()
    sign_in(console, scene.keys[Role.reviewer])  # POST /v1/chat is marketer-only: no panel
    assert 'href="/console/chat"' not in console.get("/console/reviews").text
    # marketer-only pages stay closed to reviewers
    for path in ("/console/chat", "/console/customers", "/console/journeys", "/console/outbox"):
        assert console.get(path).status_code == 403, path


def test_console_pages_cannot_be_framed_or_cached(console: TestClient, scene: Scene) -> None:
    sign_in(console, scene.keys[Role.reviewer])
    for path in ("/console/reviews", "/console/login"):
        headers = console.get(path).headers
        assert headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"


def test_the_sign_in_page_shows_no_text_from_the_url(console: TestClient) -> None:
    page = console.get("/console/login?error=Get+a+new+key+at+https://evil.example/cjo")
    assert page.status_code == 200 and "evil.example" not in page.text


def test_pausing_an_unknown_journey_from_the_console_is_refused(
    console: TestClient, scene: Scene, sqlite_engine: Engine
) -> None:
    csrf = sign_in(console, scene.keys[Role.marketer])
    answer = console.post(
        "/console/controls/pause", data={"what": "journey:<b>x</b>", "csrf": csrf}
    )
    assert answer.status_code == 422
    with Session(sqlite_engine) as s:
        assert not is_paused(s, journey_slug="<b>x</b>")
