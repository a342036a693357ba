"""One chat turn as a stream of events, shared by `POST /v1/chat` and `cjo chat`.

Events: `token` (reply text, incrementally), `tool_call` (name, args), `tool_result` (name,
summary, ok), `confirm` (a question; the next turn's "yes" or `confirm: true` answers it),
`message` (the whole reply), `done` (conversation id). A turn that arrives while a
confirmation is pending answers it: anything but an explicit yes cancels.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from agents.chat.context import ChatContext
from agents.chat.graph import is_yes

__all__ = ["ChatEvent", "pending_question", "run_turn"]

ChatEvent = dict[str, Any]


def _config(conversation_id: str) -> Any:
    return {"configurable": {"thread_id": conversation_id}, "recursion_limit": 25}


def pending_question(
    graph: CompiledStateGraph[Any, Any, Any, Any], conversation_id: str
) -> dict[str, Any] | None:
    """The confirmation this conversation waits for, if any."""
    snapshot = graph.get_state(_config(conversation_id))
    for task in snapshot.tasks:
        for pending in task.interrupts:
            return dict(pending.value)
    return None


def _words(text: str) -> Iterator[str]:
    yield from re.findall(r"\S+\s*|\s+", text)


def run_turn(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    context: ChatContext,
    message: str,
    *,
    conversation_id: str | None = None,
    confirm: bool | None = None,
) -> Iterator[ChatEvent]:
    """Run one user turn and yield its events (see the module docstring)."""
    conversation_id = conversation_id or uuid.uuid4().hex
    config = _config(conversation_id)
    if pending_question(graph, conversation_id) is not None:
        answer = confirm if confirm is not None else is_yes(message)
        graph_input: Any = Command(resume=bool(answer))
    else:
        graph_input = {"messages": [HumanMessage(message)]}
    streamed = False
    final = ""
    stream: Any = graph.stream(
        graph_input, config, context=context, stream_mode=["updates", "messages"]
    )
    for mode, chunk in stream:
        if mode == "messages":
            piece, _meta = chunk
            if (
                isinstance(piece, AIMessageChunk)
                and isinstance(piece.content, str)
                and piece.content
            ):
                streamed = True
                yield {"type": "token", "text": piece.content}
            continue
        for node, update in chunk.items():
            if node == "__interrupt__":
                for pending in update:
                    yield {
                        "type": "confirm",
                        "question": pending.value["question"],
                        "tool_calls": pending.value["tool_calls"],
                        "conversation_id": conversation_id,
                    }
                continue
            for msg in (update or {}).get("messages", []):
                if isinstance(msg, AIMessage) and msg.tool_calls:
                    for call in msg.tool_calls:
                        yield {"type": "tool_call", "name": call["name"], "args": call["args"]}
                elif isinstance(msg, ToolMessage):
                    yield {
                        "type": "tool_result",
                        "name": msg.name,
                        "ok": msg.status != "error",
                        "summary": str(msg.content),
                        "data": msg.artifact,
                    }
                elif isinstance(msg, AIMessage) and isinstance(msg.content, str) and msg.content:
                    if not streamed:
                        for word in _words(msg.content):
                            yield {"type": "token", "text": word}
                    final = msg.content
                    streamed = False
    if final:
        yield {"type": "message", "text": final}
    yield {"type": "done", "conversation_id": conversation_id}
