"""Assemble a chat context for a caller: router (with MiniLM embeddings when brand/ has them),
the configured chat model, and the policy for its backend."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from langchain_core.language_models import BaseChatModel
from sqlalchemy.engine import Engine

from agents.chat.context import ChatContext, ChatPolicy
from agents.chat.router import Embedder, ToolRouter
from brand.embeddings import MiniLmEmbedding
from core.keys import Role
from core.llm import get_chat_model
from core.settings import Settings

__all__ = ["default_router", "make_chat_context", "minilm_embedder"]


def minilm_embedder() -> Embedder:
    """brand's all-MiniLM-L6-v2 ONNX encoder (offline, onnxruntime)."""
    return MiniLmEmbedding().embed


@lru_cache(maxsize=1)
def default_router() -> ToolRouter:
    """The process-wide router (fitted once)."""
    return ToolRouter(embedder=minilm_embedder())


def chat_model(settings: Settings) -> BaseChatModel:
    """The configured chat model: OpenAI-compatible when CJO_LLM_BASE_URL is set, else the
    embedded SmolLM2 (tool calls constrained to the offered tools' schemas by a grammar)."""
    return get_chat_model(settings)


def make_chat_context(
    *,
    engine: Engine,
    settings: Settings,
    role: Role,
    actor: str,
    llm: BaseChatModel | None = None,
    use_llm: bool = True,
    **extra: Any,
) -> ChatContext:
    """A context that acts with `role`/`actor`; the policy follows the backend in use."""
    model = llm if llm is not None else (chat_model(settings) if use_llm else None)
    return ChatContext(
        engine=engine,
        settings=settings,
        role=role,
        actor=actor,
        llm=model,
        router=default_router(),
        policy=ChatPolicy.for_backend(embedded=not settings.llm_base_url),
        **extra,
    )
