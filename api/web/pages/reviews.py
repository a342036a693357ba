"""The review queue: flagged actions rendered as the customer would see them, and their verdicts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from api.deps import SessionDep
from api.web import review_service
from api.web.review_service import ReviewRefusal, ServiceMissing
from api.web.session import ConsoleUser, FormUserDep, UserDep
from api.web.templating import render
from core.clock import as_utc, utcnow
from core.tables import ApiKey, Decision, Profile, Review

router = APIRouter(prefix="/console/reviews", include_in_schema=False)

# Content fields a reviewer may edit, per channel, in display order (Creative's keys).
EDITABLE = {
    "email": ("subject", "preheader", "body_text", "body_html", "cta_text", "cta_url"),
    "sms": ("text",),
    "push": ("title", "body", "url"),
    "web": ("headline", "body", "cta_text", "cta_url"),
    "csm": ("summary", "script"),
}
LONG_FIELDS = {"body_text", "body_html", "script", "body", "text"}

DONE_MESSAGES = {
    "approved": "Approved: the action goes to the outbox.",
    "edited_needs_second": "Edit saved. It now awaits a second reviewer: "
    "a reviewer cannot approve content they edited themselves.",
    "rejected": "Rejected: nothing will be sent.",
}
KEY_ACTOR = "key:"


def editable_fields(review: Review) -> list[str]:
    known = EDITABLE.get(review.channel, ())
    keys = [k for k in known if k in review.content or k in ("subject", "text", "title", "body")]
    keys = [k for k in keys if k in review.content] or list(known)
    extra = [k for k, v in review.content.items() if isinstance(v, str) and k not in keys]
    return keys + extra


def pending_reviews(session: Session) -> list[Review]:
    rows = session.exec(
        select(Review).where(Review.status == "pending").order_by(col(Review.created_at))
    ).all()
    far = as_utc(utcnow()).replace(year=9999)
    return sorted(rows, key=lambda r: (as_utc(r.expires_at) if r.expires_at else far, r.created_at))


def actor_labels(session: Session, actors: set[str]) -> dict[str, str]:
    """`key:<id>` -> "<key name> (key:<id>)", so the queue says who edited, not only an id."""
    ids = {a.removeprefix(KEY_ACTOR) for a in actors if a.startswith(KEY_ACTOR)}
    query = select(ApiKey.id, ApiKey.name).where(col(ApiKey.id).in_(ids))
    names: dict[str, str] = {key_id: name for key_id, name in session.exec(query)}
    labels = {}
    for actor in actors:
        name = names.get(actor.removeprefix(KEY_ACTOR)) if actor.startswith(KEY_ACTOR) else None
        labels[actor] = f"{name} ({actor})" if name else actor
    return labels


def _queue_context(session: Session) -> dict[str, Any]:
    reviews = pending_reviews(session)
    decision_ids = [r.decision_id for r in reviews if r.decision_id]
    decisions = {
        d.id: d for d in session.exec(select(Decision).where(col(Decision.id).in_(decision_ids)))
    }
    customer_ids = [r.customer_id for r in reviews]
    profiles = {
        p.customer_id: p
        for p in session.exec(select(Profile).where(col(Profile.customer_id).in_(customer_ids)))
    }
    now = utcnow()
    ages = [(now - as_utc(r.created_at)).total_seconds() for r in reviews]
    overdue = sum(1 for r in reviews if r.expires_at and as_utc(r.expires_at) < now)
    return {
        "reviews": reviews,
        "decisions": decisions,
        "profiles": profiles,
        "oldest_minutes": int(max(ages) // 60) if ages else 0,
        "overdue": overdue,
        "fields": {r.id: editable_fields(r) for r in reviews},
        "long_fields": LONG_FIELDS,
        "editors": actor_labels(session, {r.edited_by for r in reviews if r.edited_by}),
    }


def _queue_page(
    request: Request,
    session: Session,
    user: ConsoleUser,
    *,
    status_code: int = 200,
    refusals: dict[str, ReviewRefusal] | None = None,
    drafts: dict[str, dict[str, Any]] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    if not user.may("reviews"):
        return render(
            request, "forbidden.html", user=user, session=session, status_code=403,
            what="see or resolve the review queue",
        )  # fmt: skip
    return render(
        request,
        "reviews.html",
        user=user,
        session=session,
        status_code=status_code,
        refusals=refusals or {},
        drafts=drafts or {},
        done=DONE_MESSAGES.get(done or ""),
        **_queue_context(session),
    )


@router.get("")
def queue(
    request: Request, session: SessionDep, user: UserDep, done: str | None = None
) -> Response:
    """Pending reviews, soonest deadline first; refreshed in place every few seconds."""
    return _queue_page(request, session, user, done=done)


@router.get("/fragment")
def queue_fragment(request: Request, session: SessionDep, user: UserDep) -> Response:
    if not user.may("reviews"):
        return HTMLResponse("", status_code=403)
    return render(
        request, "_review_list.html", user=user, refusals={}, drafts={}, **_queue_context(session)
    )


def _refuse(
    request: Request,
    session: Session,
    user: ConsoleUser,
    review_id: str,
    refusal: ReviewRefusal,
    draft: dict[str, Any] | None = None,
) -> HTMLResponse:
    session.rollback()  # nothing half-written: the refused change is dropped
    return _queue_page(
        request,
        session,
        user,
        status_code=refusal.status,
        refusals={review_id: refusal},
        drafts={review_id: draft} if draft is not None else {},
    )


def _act(request: Request, session: Session, user: ConsoleUser, review_id: str) -> Response | None:
    """Common refusals before any action: wrong role, unknown or already resolved review."""
    if not user.may("reviews"):
        return _queue_page(request, session, user)
    row = session.get(Review, review_id)
    if row is None:
        return _refuse(request, session, user, review_id, ReviewRefusal(404, "No such review."))
    if row.status != "pending":
        message = f"This review was already {row.status} by {row.resolved_by or 'someone'}."
        return _refuse(request, session, user, review_id, ReviewRefusal(409, message))
    return None


def _missing(
    request: Request, session: Session, user: ConsoleUser, rid: str, exc: Exception
) -> Response:
    refusal = ReviewRefusal(503, f"Review actions are unavailable: {exc}")
    return _refuse(request, session, user, rid, refusal)


@router.post("/{review_id}/approve")
def approve(
    request: Request,
    session: SessionDep,
    user: FormUserDep,
    review_id: str,
    content_hash: Annotated[str, Form()] = "",
) -> Response:
    """Approve exactly the content the reviewer saw (bound by its hash)."""
    refused = _act(request, session, user, review_id)
    if refused is not None:
        return refused
    try:
        review_service.review().approve(
            session, review_id, actor=user.actor, content_hash=content_hash
        )
    except ServiceMissing as exc:
        return _missing(request, session, user, review_id, exc)
    except Exception as exc:
        refusal = review_service.classify(exc)
        if refusal is None:
            raise
        return _refuse(request, session, user, review_id, refusal)
    return RedirectResponse("/console/reviews?done=approved", status_code=303)


@router.post("/{review_id}/reject")
def reject(
    request: Request,
    session: SessionDep,
    user: FormUserDep,
    review_id: str,
    reason: Annotated[str, Form()] = "",
) -> Response:
    refused = _act(request, session, user, review_id)
    if refused is not None:
        return refused
    if not reason.strip():
        missing = ReviewRefusal(422, "reason: say why you reject this action.")
        return _refuse(request, session, user, review_id, missing)
    try:
        review_service.review().reject(session, review_id, actor=user.actor, reason=reason.strip())
    except ServiceMissing as exc:
        return _missing(request, session, user, review_id, exc)
    except Exception as exc:
        refusal = review_service.classify(exc)
        if refusal is None:
            raise
        return _refuse(request, session, user, review_id, refusal)
    return RedirectResponse("/console/reviews?done=rejected", status_code=303)


def _content_from_form(form: FormData, review: Review) -> dict[str, Any]:
    content = dict(review.content)
    for key in editable_fields(review):
        value = form.get(f"content.{key}")
        if isinstance(value, str):
            content[key] = value
    return content


@router.post("/{review_id}/edit")
async def edit(
    request: Request, session: SessionDep, user: FormUserDep, review_id: str
) -> Response:
    """Save the edited content (guardrails re-run; a breach is refused, nothing saved).

    Four eyes, by design of guardrails.review: whoever edited may not approve their own edit,
    so the edit stays pending until a second reviewer approves its new content hash. Only the
    form is read on the event loop; the database work (which may wait for SQLite's write
    lock) runs in the threadpool so other requests keep being served.
    """
    form = await request.form()
    return await run_in_threadpool(_edit, request, session, user, review_id, form)


def _edit(
    request: Request, session: Session, user: ConsoleUser, review_id: str, form: FormData
) -> Response:
    refused = _act(request, session, user, review_id)
    if refused is not None:
        return refused
    row = session.get(Review, review_id)
    assert row is not None  # checked by _act
    content = _content_from_form(form, row)
    try:
        review_service.review().edit(session, review_id, actor=user.actor, content=content)
    except ServiceMissing as exc:
        return _missing(request, session, user, review_id, exc)
    except Exception as exc:
        refusal = review_service.classify(exc)
        if refusal is None:
            raise
        return _refuse(request, session, user, review_id, refusal, draft=content)
    return RedirectResponse("/console/reviews?done=edited_needs_second", status_code=303)


@router.post("/{review_id}/check")
async def live_check(
    request: Request, session: SessionDep, user: FormUserDep, review_id: str
) -> Response:
    """Re-run the guardrails on the draft while the reviewer types (sends nothing)."""
    form = await request.form()
    return await run_in_threadpool(_live_check, request, session, user, review_id, form)


def _live_check(
    request: Request, session: Session, user: ConsoleUser, review_id: str, form: FormData
) -> Response:
    if not user.may("reviews"):
        return HTMLResponse("", status_code=403)
    row = session.get(Review, review_id)
    if row is None:
        return HTMLResponse("<p>No such review.</p>", status_code=404)
    content = _content_from_form(form, row)
    text = "\n".join(str(content[k]) for k in editable_fields(row) if content.get(k))
    try:
        report = review_service.engine().check_text(
            session, text=text, source="generated", channel=row.channel, customer_id=row.customer_id
        )
    except ServiceMissing as exc:
        return render(request, "_verdicts.html", user=user, report=None, error=str(exc))
    session.rollback()  # a dry run: whatever the check touched is not kept
    return render(
        request, "_verdicts.html", user=user, report=report.model_dump(mode="json"), error=None
    )
