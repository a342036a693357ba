"""The review queue: flagged actions wait here for a person to approve, edit or reject.

Approval is bound to the hash of the exact content the reviewer saw (a stale approval is
refused); an edit re-runs the guardrails, and whoever edited may not approve their own edit.
Every decision is a conditional UPDATE on (id, status='pending', version), so of two reviewers
deciding at once exactly one wins and the other gets ReviewConflict. The journey runner polls
resolved reviews by `thread_id` and resumes its graph; this module never sends anything.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from core import audit
from core.clock import as_utc, utcnow
from core.domain import GuardrailReport, Outcome, PlannedAction, Verdict
from core.tables import Review
from guardrails.engine import check_action, load_profile
from guardrails.policy import Policy, default_policy
from guardrails.tables import ReviewAction

__all__ = [
    "EditRefused",
    "ReviewConflict",
    "ReviewError",
    "ReviewNotFound",
    "SelfApproval",
    "StaleApproval",
    "approve",
    "content_hash",
    "create_review",
    "edit",
    "expire_overdue",
    "get_action",
    "reject",
    "resolved_for_thread",
    "review_answer",
]


# Checks on the recipient's state, not on the content: re-run at send time, so an edit is
# judged on what it changed.
_STATE_CHECKS = frozenset({"consent", "quiet_hours", "frequency_cap", "kill_switch"})


class ReviewError(Exception):
    """Base of review errors; `status` is the HTTP status the API answers with."""

    status = 400


class ReviewNotFound(ReviewError):
    status = 404


class ReviewConflict(ReviewError):
    status = 409


class StaleApproval(ReviewError):
    status = 409


class SelfApproval(ReviewError):
    status = 403


class EditRefused(ReviewError):
    """The edited content fails a guardrail: `blocked` the verdicts that refuse it, `report`
    the whole check (which also names customer-state checks an edit cannot change)."""

    status = 422

    def __init__(
        self, message: str, report: GuardrailReport, blocked: list[Verdict] | None = None
    ) -> None:
        super().__init__(message)
        self.report = report
        self.blocked = blocked if blocked is not None else []


def content_hash(content: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the content: what an approval is bound to."""
    return audit.digest(content)


def _audit(session: Session, review: Review, *, actor: str, kind: str, **extra: Any) -> None:
    audit.append(
        session,
        actor=actor,
        kind=kind,
        subject_type="review",
        subject_id=review.id,
        customer_id=review.customer_id,
        journey_id=review.journey_slug,
        payload={
            "status": review.status,
            "content_hash": review.content_hash,
            "thread_id": review.thread_id,
            **extra,
        },
    )


def _reasons(report: GuardrailReport) -> list[dict[str, Any]]:
    """What a reviewer is shown: every verdict that did not simply allow."""
    return [v.model_dump(mode="json") for v in report.verdicts if v.outcome != Outcome.allow]


def create_review(
    session: Session,
    *,
    action: PlannedAction,
    report: GuardrailReport,
    thread_id: str | None,
    actor: str,
    sla: timedelta | None = None,
    policy: Policy | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> Review:
    """Open a review for a flagged action; it expires to "do nothing" when time is up.

    `expires_at` (a journey's own `review.expires_after`) wins; otherwise the review expires
    `sla` (default: the policy's `review.sla_hours`) after `now`.
    """
    policy = policy or default_policy()
    if expires_at is None:
        sla = sla if sla is not None else timedelta(hours=policy.review.sla_hours)
        expires_at = (now or utcnow()) + sla
    reasons = _reasons(report)
    review = Review(
        customer_id=action.customer_id,
        journey_slug=action.journey_slug,
        run_id=action.run_id,
        thread_id=thread_id,
        decision_id=action.decision_id,
        channel=action.channel,
        action_id=action.action_id,
        content=action.content,
        content_hash=content_hash(action.content),
        risk_score=report.risk_score,
        reasons=reasons,
        expires_at=as_utc(expires_at),
    )
    session.add(review)
    session.flush()
    session.add(
        ReviewAction(
            review_id=review.id,
            action=action.model_dump(mode="json"),
            report=report.model_dump(mode="json"),
        )
    )
    _audit(
        session,
        review,
        actor=actor,
        kind="review.created",
        risk_score=report.risk_score,
        reasons=reasons,
        policy_version=report.policy_version,
        expires_at=as_utc(expires_at).isoformat(),
    )
    return review


def _before_deadline(review: Review, now: datetime) -> None:
    if review.expires_at is not None and as_utc(review.expires_at) <= as_utc(now):
        raise ReviewConflict(
            f"review {review.id} expired at {as_utc(review.expires_at).isoformat()}; "
            "an expired review sends nothing"
        )


def _get(session: Session, review_id: str) -> Review:
    review = session.get(Review, review_id)
    if review is None:
        raise ReviewNotFound(f"review {review_id!r} does not exist")
    return review


def _pending(review: Review) -> None:
    if review.status != "pending":
        raise ReviewConflict(f"review {review.id} is already {review.status}")


def _transition(session: Session, review: Review, **values: Any) -> Review:
    """Apply `values` only if nobody decided since we read it; else ReviewConflict."""
    result = session.execute(
        update(Review)
        .where(
            col(Review.id) == review.id,
            col(Review.status) == "pending",
            col(Review.version) == review.version,
        )
        .values(version=review.version + 1, **values)
    )
    if getattr(result, "rowcount", 0) != 1:
        session.expire(review)
        raise ReviewConflict(f"review {review.id} was decided or edited by someone else")
    session.expire(review)
    session.refresh(review)
    return review


def get_action(session: Session, review: Review) -> PlannedAction:
    """The planned action under review, with the current (possibly edited) content."""
    row = session.get(ReviewAction, review.id)
    data: dict[str, Any] = (
        dict(row.action)
        if row
        else {
            "customer_id": review.customer_id,
            "channel": review.channel,
            "action_id": review.action_id,
            "journey_slug": review.journey_slug,
            "run_id": review.run_id,
            "decision_id": review.decision_id,
        }
    )
    data["content"] = review.content
    return PlannedAction.model_validate(data)


def approve(
    session: Session,
    review_id: str,
    *,
    actor: str,
    content_hash: str,
    now: datetime | None = None,
) -> Review:
    """Approve exactly the content whose hash the reviewer saw, before the review's deadline.

    Past `expires_at` the answer is already "do nothing", even if the expiry sweep has not
    marked the review yet: a late approval is refused (ReviewConflict), never sent.
    """
    review = _get(session, review_id)
    _pending(review)
    _before_deadline(review, now or utcnow())
    if content_hash != review.content_hash:
        raise StaleApproval(
            f"content changed since you looked (hash {content_hash[:12]} is not the current "
            f"{review.content_hash[:12]}); reload the review and approve again"
        )
    if review.edited_by is not None and review.edited_by == actor:
        raise SelfApproval("you edited this content; another reviewer must approve it")
    review = _transition(
        session, review, status="approved", resolved_by=actor, resolved_at=utcnow()
    )
    _audit(session, review, actor=actor, kind="review.approved")
    return review


def reject(session: Session, review_id: str, *, actor: str, reason: str) -> Review:
    """Reject with a reason; the action is never sent."""
    if not reason or not reason.strip():
        raise ValueError("reason: a rejection needs a reason")
    review = _get(session, review_id)
    _pending(review)
    review = _transition(
        session,
        review,
        status="rejected",
        resolved_by=actor,
        resolved_at=utcnow(),
        resolution_note=reason.strip(),
    )
    _audit(session, review, actor=actor, kind="review.rejected", reason=reason.strip())
    return review


def edit(
    session: Session,
    review_id: str,
    *,
    actor: str,
    content: dict[str, Any],
    now: datetime | None = None,
    policy: Policy | None = None,
) -> tuple[Review, GuardrailReport]:
    """Replace the content after re-running the guardrails on it; stays pending.

    The review's reasons and risk score become those of the new content, so the approver
    sees the warnings of what they approve, not of the draft it replaced.

    Refused (EditRefused) when the edit breaks a guardrail that blocks; the review keeps its
    old content. Another reviewer then approves the new content hash.
    """
    review = _get(session, review_id)
    _pending(review)
    _before_deadline(review, now or utcnow())
    action = get_action(session, review).model_copy(update={"content": content})
    profile = load_profile(session, review.customer_id)
    report = check_action(session, action, profile, now=now or utcnow(), policy=policy)
    blocked = [
        v for v in report.verdicts if v.outcome == Outcome.block and v.check not in _STATE_CHECKS
    ]
    if blocked:
        names = ", ".join(f"{v.check} ({'; '.join(v.reasons)})" for v in blocked)
        raise EditRefused(f"the edited content fails guardrails: {names}", report, blocked)
    old_hash = review.content_hash
    reasons = _reasons(report)
    review = _transition(
        session,
        review,
        content=content,
        content_hash=content_hash(content),
        edited_by=actor,
        risk_score=report.risk_score,
        reasons=reasons,
    )
    stored = session.get(ReviewAction, review.id)
    if stored is not None:  # the next edit and the approver see this content's report
        stored.action = action.model_dump(mode="json")
        stored.report = report.model_dump(mode="json")
        session.add(stored)
    _audit(
        session,
        review,
        actor=actor,
        kind="review.edited",
        previous_hash=old_hash,
        outcome=report.outcome.value,
        risk_score=report.risk_score,
        reasons=reasons,
    )
    return review, report


def expire_overdue(session: Session, now: datetime) -> list[Review]:
    """Expire pending reviews past their SLA: the default decision is to do nothing."""
    due = session.exec(
        select(Review).where(
            col(Review.status) == "pending",
            col(Review.expires_at).is_not(None),
            col(Review.expires_at) <= as_utc(now),
        )
    ).all()
    expired = []
    for review in due:
        try:
            review = _transition(
                session,
                review,
                status="expired",
                resolved_by="system",
                resolved_at=as_utc(now),
                resolution_note="sla_expired",
            )
        except ReviewConflict:
            continue
        _audit(session, review, actor="system", kind="review.expired")
        expired.append(review)
    return expired


def resolved_for_thread(session: Session, thread_id: str) -> Review | None:
    """The latest decided review of a journey thread (what the runner resumes with)."""
    return session.exec(
        select(Review)
        .where(Review.thread_id == thread_id, col(Review.status) != "pending")
        .order_by(col(Review.resolved_at).desc())
    ).first()


def review_answer(review: Review) -> dict[str, Any]:
    """The value the journey runner resumes its interrupt with (`Command(resume=...)`).

    `approved` is true only for an approval; `content` is then exactly what was approved
    (possibly edited), bound to `content_hash`. Rejected and expired mean: send nothing.
    """
    return {
        "review_id": review.id,
        "status": review.status,
        "approved": review.status == "approved",
        "content": review.content if review.status == "approved" else None,
        "content_hash": review.content_hash,
        "resolved_by": review.resolved_by,
        "note": review.resolution_note,
    }
