"""Run-time dependencies of the chat graph: the caller, the database, the model, the router."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from sqlalchemy.engine import Engine

from agents.chat.router import ToolRouter
from core.keys import Role
from core.settings import Settings

__all__ = ["ChatContext", "ChatPolicy"]


@dataclass(frozen=True, kw_only=True)
class ChatPolicy:
    """How much to trust the model; the embedded default trusts it least.

    `k`: tools offered per turn; `confident_margin`: when the router's best tool's probability leads
    the next by this much, only that tool is offered; `min_similarity`: below it the request
    resembles nothing we serve and is refused; `prefer_request`: request words beat the model's
    argument values; `llm_answers`: the model writes the final reply from tool results (else
    the tool's own summary is the reply, so a small model cannot misstate a figure);
    `guided=False` turns narrowing, repair and fallback off (the eval's ablation).
    """

    k: int = 3
    confident_margin: float = 0.3
    min_similarity: float = 0.15
    prefer_request: bool = True
    llm_answers: bool = False
    max_tool_rounds: int = 3
    guided: bool = True

    @classmethod
    def for_backend(cls, embedded: bool) -> ChatPolicy:
        if embedded:  # measured: SmolLM2-135M picks worse than the router among 3 (docs/chat.md)
            return cls(k=1)
        return cls(k=5, confident_margin=1.1, prefer_request=False, llm_answers=True)


@dataclass(frozen=True, kw_only=True)
class ChatContext:
    """Who is chatting (`actor`, `role`) and with what; the agent acts with this authority."""

    engine: Engine
    settings: Settings
    role: Role
    actor: str
    llm: BaseChatModel | None
    router: ToolRouter
    policy: ChatPolicy = field(default_factory=ChatPolicy)
    extras: dict[str, Any] = field(default_factory=dict)
    creative_writer: Callable[..., Any] | None = None
