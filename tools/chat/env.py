"""What every chat tool receives: who is asking, in which conversation, and where state lives.

Tools are plain typed functions `fn(env, **args) -> ToolResult`. They write nothing outside the
session they are given, so the caller (the chat graph) can audit the call in the same
transaction as the change it made.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field
from sqlmodel import Session

from core.keys import Role
from core.settings import Settings

__all__ = ["Days", "Limit", "ToolEnv", "ToolError", "ToolResult", "installed"]


# Bounded arguments: the bounds are in the JSON schema a model is constrained to, and validated.
Days = Annotated[int, Field(ge=1, le=365, description="Look-back window in days.")]
Limit = Annotated[int, Field(ge=1, le=100, description="At most this many rows.")]


class ToolError(Exception):
    """A tool could not do what was asked; the message says why in words a marketer reads."""


class ToolResult(BaseModel):
    """A tool's answer: `summary` is what the user reads, `data` is the structured detail."""

    summary: str
    data: dict[str, Any] = Field(default_factory=dict)
    changed: bool = False


@dataclass(kw_only=True)
class ToolEnv:
    """Run-time dependencies of one tool call.

    `actor` is what the audit log records (the caller's key, never the agent itself): the agent
    acts with the caller's authority. `llm` and `creative_writer` are optional collaborators.
    """

    session: Session
    settings: Settings
    actor: str
    role: Role
    conversation_id: str
    llm: BaseChatModel | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    creative_writer: Callable[..., Any] | None = None


def installed(module: str) -> bool:
    """Whether an optional sibling package (cdp, decisioning, brand, ...) is present."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package is missing
        return False
