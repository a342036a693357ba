"""POST /v1/chat: one chat turn, streamed as server-sent events (marketer role).

Events (`event:` line = type, `data:` = JSON): `token`, `tool_call`, `tool_result`, `confirm`,
`message`, `done`, `error`. Send `conversation_id` to continue a thread (its memory); answer a
`confirm` event with `{"conversation_id": ..., "message": "yes", "confirm": true}`.
Threads are private to the API key that started them.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agents.chat.factory import chat_model, make_chat_context
from agents.chat.graph import build_chat_graph
from agents.chat.memory import make_chat_checkpointer
from agents.chat.service import run_turn
from api.deps import EngineDep, MarketerDep, SettingsDep

router = APIRouter(prefix="/v1/chat", tags=["chat"])
log = logging.getLogger("cjo.chat")
_init_lock = threading.Lock()


class ChatRequest(BaseModel):
    """One user turn."""

    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=4000)
    conversation_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,100}$",
        description="Continue this conversation; a new one starts when omitted.",
    )
    confirm: bool | None = Field(
        default=None, description="Answer a pending confirmation (true = go ahead)."
    )


@dataclass
class _ChatRuntime:
    graph: Any
    llm: Any


def _runtime(request: Request, settings: Any, engine: Any) -> _ChatRuntime:
    """Graph + checkpointer + model, made once per app (tests may preset `app.state.chat_llm`)."""
    state = request.app.state
    with _init_lock:
        runtime: _ChatRuntime | None = getattr(state, "chat_runtime", None)
        if runtime is None:
            checkpointer = make_chat_checkpointer(settings)
            llm = state.chat_llm if hasattr(state, "chat_llm") else chat_model(settings)
            runtime = _ChatRuntime(graph=build_chat_graph(checkpointer.saver), llm=llm)
            state.chat_runtime = runtime
        return runtime


def _frame(event: dict[str, Any]) -> str:
    return f"event: {event['type']}\ndata: {json.dumps(event, default=str)}\n\n"


@router.post("", response_class=StreamingResponse)
def chat(
    body: ChatRequest,
    principal: MarketerDep,
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
) -> StreamingResponse:
    """Run one turn of the marketer chat and stream what happens (SSE)."""
    runtime = _runtime(request, settings, engine)
    context = make_chat_context(
        engine=engine,
        settings=settings,
        role=principal.role,
        actor=principal.actor,
        llm=runtime.llm,
        use_llm=False,
    )
    conversation = body.conversation_id or uuid.uuid4().hex
    thread = f"{principal.key_id}:{conversation}"  # one key cannot read another's thread

    def frames() -> Iterator[str]:
        try:
            for event in run_turn(
                runtime.graph, context, body.message, conversation_id=thread, confirm=body.confirm
            ):
                if "conversation_id" in event:
                    event = {**event, "conversation_id": conversation}
                yield _frame(event)
        except Exception:  # the stream has started: report in-band, never hang the client
            log.exception("chat turn failed", extra={"fields": {"conversation": conversation}})
            yield _frame({"type": "error", "message": "the chat turn failed; see the server log"})

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Conversation-Id": conversation},
    )
