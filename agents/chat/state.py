"""What the chat graph keeps per conversation thread (checkpointed, so it is its memory)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

__all__ = ["ChatState"]


class ChatState(TypedDict, total=False):
    """`messages` is the conversation; `candidates` the tools offered for the current turn;
    `confirmed` the ids of tool calls the user confirmed; `questions` the confirmation
    questions of bound calls by call id; `route` how the router decided."""

    messages: Annotated[list[AnyMessage], add_messages]
    candidates: list[str]
    confirmed: list[str]
    questions: dict[str, str]
    route: dict[str, Any]
