"""Review queue over HTTP: list, approve by hash, edit-and-approve by another reviewer, reject."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.db import session_scope
from core.keys import Role, create_key
from core.tables import OutboxMessage, Review
from guardrails import review as rv
from guardrails.engine import evaluate
from tests.conftest import auth
from tests.guardrails.factories import AFTERNOON_NY, email_action, email_content, profile


def _flagged(engine: Engine) -> Review:
    action = email_action(conformance_score=0.4)
    with session_scope(engine) as s:
        return rv.create_review(
            s,
            action=action,
            report=evaluate(action, profile(), now=AFTERNOON_NY),
            thread_id="t-1",
            actor="agent:journey",
        )


def _second_reviewer(engine: Engine) -> str:
    with session_scope(engine) as s:
        return create_key(s, role=Role.reviewer, name="second").key


def test_pending_review_is_listed_and_approved_once(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    review = _flagged(sqlite_engine)
    who = auth(role_keys[Role.reviewer])
    listed = client.get("/v1/reviews", headers=who).json()["reviews"]
    assert [r["id"] for r in listed] == [review.id]
    url = f"/v1/reviews/{review.id}/approve"
    stale = client.post(url, headers=who, json={"content_hash": "f" * 64})
    assert stale.status_code == 409 and "content changed" in stale.json()["error"]["message"]
    ok = client.post(url, headers=who, json={"content_hash": listed[0]["content_hash"]})
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    again = client.post(url, headers=who, json={"content_hash": listed[0]["content_hash"]})
    assert again.status_code == 409
    assert client.get("/v1/reviews", headers=who).json()["reviews"] == []


def test_edit_then_other_reviewer_approves(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    review = _flagged(sqlite_engine)
    editor = auth(role_keys[Role.reviewer])
    new = email_content(subject="Your Trailhead boots are waiting")
    edited = client.post(f"/v1/reviews/{review.id}/edit", headers=editor, json={"content": new})
    assert edited.status_code == 200, edited.text
    new_hash = edited.json()["content_hash"]
    assert new_hash == rv.content_hash(new) and "guardrails" in edited.json()
    url = f"/v1/reviews/{review.id}/approve"
    self_ok = client.post(url, headers=editor, json={"content_hash": new_hash})
    assert self_ok.status_code == 403
    other = auth(_second_reviewer(sqlite_engine))
    assert client.post(url, headers=other, json={"content_hash": new_hash}).status_code == 200


def test_edit_breaking_a_guardrail_gets_422_naming_the_check(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    review = _flagged(sqlite_engine)
    bad = email_content(body_text="Visit https://evil.test now {{unsubscribe_url}}")
    r = client.post(
        f"/v1/reviews/{review.id}/edit",
        headers=auth(role_keys[Role.reviewer]),
        json={"content": bad},
    )
    assert r.status_code == 422
    body = r.json()["error"]
    assert body["code"] == "guardrail_failed"
    assert any("url_domains" in f["field"] for f in body["fields"])
    # customer-state checks (consent of this unknown customer) do not refuse an edit
    assert not any("consent" in f["field"] for f in body["fields"])


def test_edited_copy_must_be_bounded_text(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    review = _flagged(sqlite_engine)
    for change, reason in (
        ({"subject": 5}, "subject must be text, not int"),
        ({"subject": "x" * 100_000}, "subject has 100000 characters; at most 2000"),
        ({"body_html": ["<p>"]}, "body_html must be text, not list"),
    ):
        r = client.post(
            f"/v1/reviews/{review.id}/edit",
            headers=auth(role_keys[Role.reviewer]),
            json={"content": email_content(**change)},
        )
        assert r.status_code == 422, r.text
        [field] = r.json()["error"]["fields"]
        assert field["field"] == "body.content" and reason in field["reason"]
    with Session(sqlite_engine) as s:
        assert s.get(Review, review.id).content_hash == review.content_hash  # type: ignore[union-attr]


def test_reject_needs_reason_and_unknown_is_404(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    review = _flagged(sqlite_engine)
    who = auth(role_keys[Role.reviewer])
    missing = client.post(f"/v1/reviews/{review.id}/reject", headers=who, json={})
    assert missing.status_code == 422 and missing.json()["error"]["fields"][0]["field"] == (
        "body.reason"
    )
    assert (
        client.post("/v1/reviews/nope/reject", headers=who, json={"reason": "x"}).status_code == 404
    )
    done = client.post(f"/v1/reviews/{review.id}/reject", headers=who, json={"reason": "tone"})
    assert done.status_code == 200 and done.json()["resolution_note"] == "tone"


def _runner_step(engine: Engine, thread_id: str) -> None:
    """What the journey runner does on resume: send the approved content via the outbox."""
    with session_scope(engine) as s:
        review = rv.resolved_for_thread(s, thread_id)
        if review is None or review.status != "approved":
            return
        key = f"{thread_id}:{review.content_hash}"[:128]
        if s.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first():
            return
        s.add(
            OutboxMessage(
                idempotency_key=key,
                channel=review.channel,
                customer_id=review.customer_id,
                payload=review.content,
            )
        )


def test_flagged_action_is_sent_once_after_approval_and_never_after_rejection(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    who = auth(role_keys[Role.reviewer])
    approved, rejected = _flagged(sqlite_engine), _flagged(sqlite_engine)
    with session_scope(sqlite_engine) as s:
        s.get(Review, rejected.id).thread_id = "t-2"  # type: ignore[union-attr]
    _runner_step(sqlite_engine, "t-1")  # nothing decided yet: nothing goes out
    client.post(
        f"/v1/reviews/{approved.id}/approve",
        headers=who,
        json={"content_hash": approved.content_hash},
    )
    client.post(f"/v1/reviews/{rejected.id}/reject", headers=who, json={"reason": "off-brand"})
    for _ in range(3):  # the runner may resume more than once
        _runner_step(sqlite_engine, "t-1")
        _runner_step(sqlite_engine, "t-2")
    with Session(sqlite_engine) as s:
        rows = s.exec(select(OutboxMessage)).all()
    assert [(r.customer_id, r.payload) for r in rows] == [("cus_ada", approved.content)]
