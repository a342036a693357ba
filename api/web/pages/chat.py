"""The chat panel: the assistant of POST /v1/chat (marketers; reviewers use the review queue)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import SessionDep
from api.web.session import UserDep
from api.web.templating import render

router = APIRouter(prefix="/console/chat", include_in_schema=False)


@router.get("")
def chat_page(request: Request, session: SessionDep, user: UserDep) -> Response:
    if not user.may("chat"):
        return render(request, "forbidden.html", user=user, session=session, status_code=403,
                      what="chat with the orchestrator")  # fmt: skip
    return render(request, "chat.html", user=user, session=session)
