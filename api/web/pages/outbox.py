"""Outboxes: what was sent, held or failed per channel, and the SMTP capture inbox."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import col, func, select

from api.deps import SessionDep
from api.web.capture_inbox import recent_mail, sandbox_deliveries
from api.web.session import UserDep
from api.web.templating import render
from core.domain import CHANNELS
from core.tables import OutboxMessage

router = APIRouter(prefix="/console/outbox", include_in_schema=False)
STATUSES = ("pending", "sending", "sent", "held", "failed", "dead")


@router.get("")
def outbox(
    request: Request,
    session: SessionDep,
    user: UserDep,
    channel: str = "email",
    status: str = "",
) -> Response:
    """One channel at a time; `status` narrows to sent, held, failed, ..."""
    if not user.may("outbox"):
        return render(request, "forbidden.html", user=user, session=session, status_code=403,
                      what="look at the outboxes")  # fmt: skip
    if channel not in CHANNELS:
        channel = "email"
    counts: dict[str, dict[str, int]] = {}
    for ch, st, n in session.exec(
        select(OutboxMessage.channel, OutboxMessage.status, func.count())
        .group_by(col(OutboxMessage.channel), col(OutboxMessage.status))
    ):  # fmt: skip
        counts.setdefault(ch, {})[st] = n
    query = select(OutboxMessage).where(OutboxMessage.channel == channel)
    if status:
        query = query.where(OutboxMessage.status == status)
    messages = session.exec(query.order_by(col(OutboxMessage.created_at).desc()).limit(100)).all()
    inbox = recent_mail(session) if channel == "email" else None
    sandbox = sandbox_deliveries(session, channel) if channel in ("sms", "push") else None
    return render(
        request,
        "outbox.html",
        user=user,
        session=session,
        channel=channel,
        status=status,
        statuses=STATUSES,
        counts=counts,
        messages=messages,
        inbox=inbox,
        sandbox=sandbox,
    )
