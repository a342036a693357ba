"""The outbox for marketers: what was sent, held or dead-lettered per channel, and what the
embedded providers received (SMTP capture inbox, SMS/push sandboxes, CSM tasks, audiences)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from sqlmodel import Session, col, func, select

from api.deps import MarketerDep, SessionDep
from api.errors import ApiError
from core.domain import CHANNELS
from core.tables import OutboxMessage
from tools.channels.audiences import export_audience, export_csv
from tools.outbox import OUTBOX_STATUSES
from tools.tables import CapturedEmail, CsmTask, SandboxMessage

router = APIRouter(prefix="/v1/outbox", tags=["outbox"])

_EMAIL_SUMMARY = ("id", "message_id", "idempotency_key", "subject", "to", "received_at")


def _check_choice(field: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ApiError(
            422,
            f"invalid request: {field}: must be one of {', '.join(allowed)}",
            fields=[{"field": f"query.{field}", "reason": f"must be one of {', '.join(allowed)}"}],
        )


def _emails(session: Session, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    rows = session.exec(
        select(CapturedEmail)
        .order_by(col(CapturedEmail.received_at).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [
        {
            **row.model_dump(mode="json", include=set(_EMAIL_SUMMARY)),
            "deliveries": row.deliveries,
            "text": row.text,
            "html": row.html,
            "headers": row.headers,
        }
        for row in rows
    ]


def _sandbox(session: Session, channel: str, limit: int) -> list[dict[str, Any]]:
    rows = session.exec(
        select(SandboxMessage)
        .where(SandboxMessage.channel == channel)
        .order_by(col(SandboxMessage.received_at).desc())
        .limit(limit)
    ).all()
    return [row.model_dump(mode="json") for row in rows]


@router.get("")
def list_messages(
    session: SessionDep,
    _: MarketerDep,
    channel: str | None = Query(default=None, description="email, sms, push, webhook, ..."),
    status: str | None = Query(default=None, description="pending, sent, held, dead, ..."),
    customer_id: str | None = None,
    journey_slug: str | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=2**63 - 1),
) -> dict[str, Any]:
    """Outbox rows, newest first, with counts per status; for `email` also the captured inbox,
    for `sms`/`push` what the sandbox provider received."""
    _check_choice("channel", channel, CHANNELS)
    _check_choice("status", status, OUTBOX_STATUSES)
    query = select(OutboxMessage)
    counts_query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    for column, value in (
        (OutboxMessage.channel, channel),
        (OutboxMessage.customer_id, customer_id),
        (OutboxMessage.journey_slug, journey_slug),
    ):
        if value is not None:
            query = query.where(column == value)
            counts_query = counts_query.where(column == value)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    rows = session.exec(
        query.order_by(col(OutboxMessage.created_at).desc()).offset(offset).limit(limit)
    ).all()
    answer: dict[str, Any] = {
        "messages": [row.model_dump(mode="json") for row in rows],
        "counts": dict(session.exec(counts_query).all()),
        "next_offset": offset + limit if len(rows) == limit else None,
    }
    if channel == "email":
        answer["captured"] = _emails(session, limit)
    elif channel in {"sms", "push"}:
        answer["sandbox"] = _sandbox(session, channel, limit)
    return answer


@router.get("/emails")
def list_emails(
    session: SessionDep,
    _: MarketerDep,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=2**63 - 1),
) -> dict[str, Any]:
    """The SMTP capture inbox: every email the embedded server received, parsed, newest first."""
    return {"emails": _emails(session, limit, offset)}


@router.get("/emails/{email_id}")
def get_email(session: SessionDep, _: MarketerDep, email_id: str) -> dict[str, Any]:
    """One captured email, including its raw RFC 5322 source."""
    row = session.get(CapturedEmail, email_id)
    if row is None:
        raise ApiError(404, f"no captured email {email_id!r}")
    return row.model_dump(mode="json")


@router.get("/sandbox")
def list_sandbox(
    session: SessionDep,
    _: MarketerDep,
    channel: str = Query(default="sms", description="sms or push"),
    limit: int = Query(default=50, ge=1, le=500),
) -> dict[str, Any]:
    """What the sandbox SMS/push providers would have sent (the exact provider requests)."""
    _check_choice("channel", channel, ("sms", "push"))
    return {"messages": _sandbox(session, channel, limit)}


@router.get("/tasks")
def list_tasks(
    session: SessionDep,
    _: MarketerDep,
    status: str | None = Query(default="open"),
    limit: int = Query(default=50, ge=1, le=500),
) -> dict[str, Any]:
    """Customer-success / contact-center tasks for humans, newest first."""
    query = select(CsmTask)
    if status:
        query = query.where(CsmTask.status == status)
    rows = session.exec(query.order_by(col(CsmTask.created_at).desc()).limit(limit)).all()
    return {"tasks": [row.model_dump(mode="json") for row in rows]}


@router.get("/audiences/{audience}", response_model=None)
def get_audience(
    session: SessionDep,
    _: MarketerDep,
    audience: str,
    format: str = Query(default="json", description="json, or csv for a customer-match upload"),
) -> dict[str, Any] | PlainTextResponse:
    """Members of an ad audience as SHA-256 hashes of normalised email/phone (opt-outs left out)."""
    _check_choice("format", format, ("json", "csv"))
    if format == "csv":
        return PlainTextResponse(export_csv(session, audience), media_type="text/csv")
    members = export_audience(session, audience)
    return {"audience": audience, "size": len(members), "members": members}
