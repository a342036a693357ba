"""The review queue: list flagged actions; approve, edit-and-approve or reject them."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, field_validator
from sqlmodel import col, select

from api.deps import ReviewerDep, SessionDep
from api.errors import ApiError
from core.tables import Review
from guardrails import review as reviews
from guardrails.review import EditRefused, ReviewError

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])

Status = Literal["pending", "approved", "rejected", "expired"]


class ApproveBody(BaseModel):
    content_hash: str = Field(min_length=64, max_length=64, description="Hash of what you saw.")


class RejectBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


# Copy a reviewer may edit: text, and bounded (a 100,000-character subject is no edit).
_TEXT_LIMITS = {"body_html": 200_000, "body_text": 20_000, "body": 20_000, "script": 20_000}
_TEXT_FIELDS = (
    "subject",
    "preheader",
    "headline",
    "title",
    "body",
    "body_text",
    "body_html",
    "text",
    "script",
    "summary",
    "cta_text",
    "cta_url",
    "url",
)


class EditBody(BaseModel):
    content: dict[str, Any] = Field(description="The full replacement content.")

    @field_validator("content")
    @classmethod
    def _copy_is_bounded_text(cls, content: dict[str, Any]) -> dict[str, Any]:
        for key in _TEXT_FIELDS:
            if key not in content:
                continue
            value = content[key]
            if not isinstance(value, str):
                raise ValueError(f"{key} must be text, not {type(value).__name__}")
            limit = _TEXT_LIMITS.get(key, 2_000)
            if len(value) > limit:
                raise ValueError(f"{key} has {len(value)} characters; at most {limit}")
        return content


def _public(review: Review) -> dict[str, Any]:
    return review.model_dump(mode="json")


def _fail(exc: ReviewError) -> ApiError:
    if isinstance(exc, EditRefused):
        failed = [
            {"field": f"body.content ({v.check})", "reason": "; ".join(v.reasons) or "blocked"}
            for v in exc.blocked
        ]
        return ApiError(422, str(exc), code="guardrail_failed", fields=failed)
    return ApiError(exc.status, str(exc))


@router.get("")
def list_reviews(
    session: SessionDep,
    _: ReviewerDep,
    status: Status | None = Query(default="pending"),
    limit: int = Query(default=100, ge=1, le=500),
) -> dict[str, Any]:
    """Reviews, oldest first (pending by default), each with its content hash to approve."""
    query = select(Review)
    if status:
        query = query.where(Review.status == status)
    rows = session.exec(query.order_by(col(Review.created_at)).limit(limit)).all()
    return {"reviews": [_public(r) for r in rows]}


@router.get("/{review_id}")
def get_review(review_id: str, session: SessionDep, _: ReviewerDep) -> dict[str, Any]:
    review = session.get(Review, review_id)
    if review is None:
        raise ApiError(404, f"review {review_id!r} does not exist")
    return _public(review)


@router.post("/{review_id}/approve")
def approve(
    review_id: str, body: ApproveBody, session: SessionDep, who: ReviewerDep
) -> dict[str, Any]:
    """Approve the content whose hash you send; 409 if it changed or someone decided first."""
    try:
        return _public(
            reviews.approve(session, review_id, actor=who.actor, content_hash=body.content_hash)
        )
    except ReviewError as exc:
        raise _fail(exc) from exc


@router.post("/{review_id}/reject")
def reject(
    review_id: str, body: RejectBody, session: SessionDep, who: ReviewerDep
) -> dict[str, Any]:
    try:
        return _public(reviews.reject(session, review_id, actor=who.actor, reason=body.reason))
    except ReviewError as exc:
        raise _fail(exc) from exc
    except ValueError as exc:
        raise ApiError(
            422, str(exc), fields=[{"field": "body.reason", "reason": str(exc)}]
        ) from exc


@router.post("/{review_id}/edit")
def edit(review_id: str, body: EditBody, session: SessionDep, who: ReviewerDep) -> dict[str, Any]:
    """Replace the content; guardrails re-run (422 naming the failed check). Another reviewer
    then approves the new `content_hash`."""
    try:
        review, report = reviews.edit(session, review_id, actor=who.actor, content=body.content)
    except ReviewError as exc:
        raise _fail(exc) from exc
    return {**_public(review), "guardrails": report.model_dump(mode="json")}
