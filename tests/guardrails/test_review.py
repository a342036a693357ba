"""Review queue service: approve bound to a hash, edits re-checked, one winner, SLA expiry."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.db import session_scope
from core.domain import PlannedAction
from core.tables import AuditEntry, Review
from guardrails import review as rv
from guardrails.engine import evaluate
from guardrails.tables import ReviewAction
from tests.guardrails.factories import AFTERNOON_NY, email_action, email_content, profile


def _open(engine: Engine, action: PlannedAction | None = None) -> Review:
    action = action or email_action(conformance_score=0.4)
    report = evaluate(action, profile(), now=AFTERNOON_NY)
    with session_scope(engine) as s:
        return rv.create_review(
            s,
            action=action,
            report=report,
            thread_id="cart-abandon:cus_ada:1",
            actor="agent:journey",
        )


def _kinds(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return [e.kind for e in s.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all()]


def test_review_carries_reasons_and_hash(engine: Engine) -> None:
    review = _open(engine)
    assert review.status == "pending"
    assert review.content_hash == rv.content_hash(email_content())
    assert any(r["check"] == "brand_conformance" for r in review.reasons)
    assert review.expires_at is not None
    assert _kinds(engine) == ["review.created"]


def test_review_expires_at_the_given_time_else_after_the_policy_sla(engine: Engine) -> None:
    action = email_action(conformance_score=0.4)
    report = evaluate(action, profile(), now=AFTERNOON_NY)
    with session_scope(engine) as s:
        default = rv.create_review(
            s, action=action, report=report, thread_id="t1", actor="a", now=AFTERNOON_NY
        )
        journey = rv.create_review(
            s,
            action=action,
            report=report,
            thread_id="t2",
            actor="a",
            expires_at=AFTERNOON_NY + timedelta(hours=6),
        )
    assert default.expires_at == AFTERNOON_NY + timedelta(hours=24)  # policy review.sla_hours
    assert journey.expires_at == AFTERNOON_NY + timedelta(hours=6)


def test_approval_of_stale_content_is_refused(engine: Engine) -> None:
    review = _open(engine)
    with session_scope(engine) as s, pytest.raises(rv.StaleApproval):
        rv.approve(s, review.id, actor="key:rita", content_hash="0" * 64)
    with session_scope(engine) as s:
        approved = rv.approve(s, review.id, actor="key:rita", content_hash=review.content_hash)
    assert approved.status == "approved" and approved.resolved_by == "key:rita"
    with session_scope(engine) as s, pytest.raises(rv.ReviewConflict):
        rv.reject(s, review.id, actor="key:sam", reason="too late")


def test_edit_reruns_guardrails_and_editor_cannot_approve(engine: Engine) -> None:
    review = _open(engine)
    new = email_content(subject="Still thinking about the Trailhead boots?")
    with session_scope(engine) as s:
        edited, report = rv.edit(s, review.id, actor="key:rita", content=new)
    assert edited.content_hash == rv.content_hash(new) and edited.status == "pending"
    assert report.policy_version
    with session_scope(engine) as s, pytest.raises(rv.SelfApproval):
        rv.approve(s, review.id, actor="key:rita", content_hash=edited.content_hash)
    with session_scope(engine) as s, pytest.raises(rv.StaleApproval):  # the old hash
        rv.approve(s, review.id, actor="key:sam", content_hash=review.content_hash)
    with session_scope(engine) as s:
        assert rv.approve(s, review.id, actor="key:sam", content_hash=edited.content_hash)
    assert _kinds(engine)[-2:] == ["review.edited", "review.approved"]


def test_an_edit_replaces_the_reasons_the_approver_sees(engine: Engine) -> None:
    review = _open(engine)
    assert not any(r["check"] == "claims" for r in review.reasons)
    risky = email_content(subject="Risk-free savings on the Trailhead boots")
    with session_scope(engine) as s:
        edited, report = rv.edit(s, review.id, actor="key:rita", content=risky)
    claims = [r for r in edited.reasons if r["check"] == "claims"]
    assert claims and claims[0]["outcome"] == "escalate"
    assert edited.risk_score == report.risk_score
    with Session(engine) as s:
        stored = s.get(ReviewAction, review.id)
        entry = s.exec(select(AuditEntry).order_by(col(AuditEntry.seq).desc())).first()
    assert stored is not None and stored.action["content"] == risky
    assert any(v["check"] == "claims" for v in stored.report["verdicts"])
    assert entry is not None and entry.kind == "review.edited"
    assert any(r["check"] == "claims" for r in entry.payload["reasons"])

    calm = email_content(subject="Still thinking about the Trailhead boots?")
    with session_scope(engine) as s:
        again, _ = rv.edit(s, review.id, actor="key:rita", content=calm)
    assert not any(r["check"] == "claims" for r in again.reasons)


def test_edit_that_breaks_a_guardrail_is_refused_and_nothing_changes(engine: Engine) -> None:
    review = _open(engine)
    bad = email_content(body_text="Claim 80% off at https://evil.test/x {{unsubscribe_url}}")
    with session_scope(engine) as s, pytest.raises(rv.EditRefused) as err:
        rv.edit(s, review.id, actor="key:rita", content=bad)
    assert "url_domains" in str(err.value) and "offer_limits" in str(err.value)
    with Session(engine) as s:
        assert s.get(Review, review.id).content_hash == review.content_hash  # type: ignore[union-attr]


def test_reject_needs_a_reason_and_unknown_review_is_not_found(engine: Engine) -> None:
    review = _open(engine)
    with session_scope(engine) as s, pytest.raises(ValueError, match="reason"):
        rv.reject(s, review.id, actor="key:rita", reason=" ")
    with session_scope(engine) as s, pytest.raises(rv.ReviewNotFound):
        rv.approve(s, "nope", actor="key:rita", content_hash="0" * 64)
    with session_scope(engine) as s:
        assert rv.reject(s, review.id, actor="key:rita", reason="off-brand tone").status == (
            "rejected"
        )


def test_concurrent_decisions_exactly_one_wins(engine: Engine) -> None:
    review = _open(engine)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def decide(n: int) -> None:
        barrier.wait()
        try:
            with session_scope(engine) as s:
                if n % 2:
                    rv.approve(s, review.id, actor=f"key:r{n}", content_hash=review.content_hash)
                else:
                    rv.reject(s, review.id, actor=f"key:r{n}", reason="no")
            results.append("won")
        except rv.ReviewConflict:
            results.append("409")

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["409"] * 7 + ["won"]
    decided = [k for k in _kinds(engine) if k in ("review.approved", "review.rejected")]
    assert len(decided) == 1


def test_overdue_reviews_expire_to_do_nothing(engine: Engine) -> None:
    review = _open(engine)
    with session_scope(engine) as s:
        assert rv.expire_overdue(s, datetime.now(UTC)) == []
    later = datetime.now(UTC) + timedelta(hours=25)
    with session_scope(engine) as s:
        expired = rv.expire_overdue(s, later)
    assert [r.id for r in expired] == [review.id] and expired[0].status == "expired"
    with session_scope(engine) as s, pytest.raises(rv.ReviewConflict):
        rv.approve(s, review.id, actor="key:rita", content_hash=review.content_hash)


def test_resume_value_carries_approved_content_only(engine: Engine) -> None:
    review = _open(engine)
    with session_scope(engine) as s:
        rv.approve(s, review.id, actor="key:rita", content_hash=review.content_hash)
        answer = rv.review_answer(rv.resolved_for_thread(s, "cart-abandon:cus_ada:1"))  # type: ignore[arg-type]
    assert answer["approved"] is True and answer["content"] == email_content()
    other = _open(engine)
    with session_scope(engine) as s:
        rejected = rv.reject(s, other.id, actor="key:rita", reason="tone")
    assert rv.review_answer(rejected)["content"] is None


async def test_expiry_service_sweeps_overdue_reviews(sqlite_engine: Engine) -> None:
    from guardrails.expiry import ReviewExpiry

    action = email_action(conformance_score=0.4)
    with session_scope(sqlite_engine) as s:
        review = rv.create_review(
            s,
            action=action,
            report=evaluate(action, profile(), now=AFTERNOON_NY),
            thread_id="t-exp",
            actor="agent:journey",
            sla=timedelta(seconds=0),
        )
    service = ReviewExpiry(sqlite_engine, interval=3600)
    assert service.sweep() == 1  # what each round of the loop runs
    assert service.sweep() == 0
    await service.start()  # the loop starts and stops cleanly
    await service.stop()
    with Session(sqlite_engine) as s:
        assert s.get(Review, review.id).status == "expired"  # type: ignore[union-attr]


def test_a_review_past_its_deadline_cannot_be_approved_or_edited_before_the_sweep(
    engine: Engine,
) -> None:
    action = email_action(conformance_score=0.4)
    report = evaluate(action, profile(), now=AFTERNOON_NY)
    with session_scope(engine) as s:
        review = rv.create_review(
            s, action=action, report=report, thread_id="t1", actor="a", now=AFTERNOON_NY
        )
    deadline = AFTERNOON_NY + timedelta(hours=24)
    late = deadline + timedelta(seconds=1)
    with session_scope(engine) as s, pytest.raises(rv.ReviewConflict, match="expired"):
        rv.approve(s, review.id, actor="key:rita", content_hash=review.content_hash, now=late)
    with session_scope(engine) as s, pytest.raises(rv.ReviewConflict, match="expired"):
        rv.edit(s, review.id, actor="key:rita", content=email_content(), now=late)
    with Session(engine) as s:
        assert s.get(Review, review.id).status == "pending"  # type: ignore[union-attr]
    with session_scope(engine) as s:
        early = deadline - timedelta(seconds=1)
        approved = rv.approve(
            s, review.id, actor="key:rita", content_hash=review.content_hash, now=early
        )
    assert approved.status == "approved"
