"""Chat tools for reviewers: the review queue, and approving or rejecting a flagged action."""

from __future__ import annotations

import re
from typing import Any, Literal

from sqlmodel import col, select

from core.tables import Review
from guardrails import review
from tools.chat.env import Limit, ToolEnv, ToolError, ToolResult

__all__ = ["approve_review", "bind_approval", "list_reviews", "reject_review"]

ReviewStatus = Literal["pending", "approved", "rejected", "expired"]


def _find(env: ToolEnv, review_id: str) -> Review:
    wanted = review_id.strip().lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{4,64}", wanted):
        raise ToolError(f"{wanted!r} is not a review id (at least 4 hex characters)")
    rows = list(
        env.session.exec(
            select(Review)
            .where(col(Review.id).startswith(wanted.lower(), autoescape=True))
            .limit(2)
        )
    )
    if not rows:
        raise ToolError(f"no review {wanted!r}")
    if len(rows) > 1:
        raise ToolError(f"review id {wanted!r} is ambiguous; give more characters")
    return rows[0]


def list_reviews(env: ToolEnv, status: ReviewStatus = "pending", limit: Limit = 20) -> ToolResult:
    """List the review queue: flagged actions waiting for a human, riskiest first."""
    rows = list(
        env.session.exec(
            select(Review)
            .where(Review.status == status)
            .order_by(col(Review.risk_score).desc(), col(Review.created_at))
            .limit(limit)
        )
    )
    items: list[dict[str, Any]] = [
        {
            "review_id": r.id,
            "customer_id": r.customer_id,
            "channel": r.channel,
            "action_id": r.action_id,
            "risk_score": r.risk_score,
            "reasons": r.reasons,
        }
        for r in rows
    ]
    lines = [
        f"- {i['review_id'][:8]} {i['channel']} {i['action_id'] or ''} for "
        f"{i['customer_id']} (risk {i['risk_score']:.2f}: "
        f"{', '.join(map(str, i['reasons'])) or 'no reason'})"
        for i in items
    ]
    head = f"{len(items)} {status} reviews"
    return ToolResult(
        summary="\n".join([head + ":", *lines]) if items else head + ".",
        data={"status": status, "reviews": items},
    )


def _resolve(
    env: ToolEnv, review_id: str, approve: bool, note: str | None, content_hash: str | None = None
) -> ToolResult:
    row = _find(env, review_id)
    if row.status != "pending":
        raise ToolError(f"review {row.id[:8]} is already {row.status}")
    try:
        if approve:  # bound to the content the confirmation question showed
            review.approve(
                env.session, row.id, actor=env.actor, content_hash=content_hash or row.content_hash
            )
        else:
            review.reject(env.session, row.id, actor=env.actor, reason=note or "")
    except (review.ReviewError, ValueError) as exc:
        raise ToolError(str(exc)) from exc
    env.session.flush()
    done = "approved" if approve else "rejected"
    return ToolResult(
        summary=f"Review {row.id[:8]} {done}.",
        data={"review_id": row.id, "status": done},
        changed=True,
    )


def approve_review(
    env: ToolEnv, review_id: str, note: str | None = None, content_hash: str | None = None
) -> ToolResult:
    """Approve a flagged action in the review queue so it is sent (reviewers only; asks for
    confirmation first, showing the content that will be approved)."""
    return _resolve(env, review_id, True, note, content_hash)


def _excerpt(content: dict[str, Any], limit: int = 240) -> str:
    """The words the customer would read (brand's own reading of content), shortened."""
    from brand.conformance import copy_text  # brand's store is heavy to import; only here

    text = " | ".join(copy_text(content).splitlines()) or str(content)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bind_approval(env: ToolEnv, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Pin the approval to the review's current content, and show that content."""
    row = _find(env, str(args.get("review_id") or ""))
    if row.status != "pending":
        raise ToolError(f"review {row.id[:8]} is already {row.status}")
    bound = {**args, "content_hash": row.content_hash}  # another review has another hash
    question = (
        f"Approving review {row.id[:8]} sends this {row.channel} message to {row.customer_id}: "
        f'"{_excerpt(row.content)}" Go ahead?'
    )
    return bound, question


def reject_review(env: ToolEnv, review_id: str, reason: str) -> ToolResult:
    """Reject a flagged action in the review queue so it is never sent, with the reason
    (reviewers only)."""
    if not reason.strip():
        raise ToolError("a rejection needs a reason")
    return _resolve(env, review_id, False, reason)
