"""The chat tools, who may use each, which need confirmation, and their argument schemas.

Each tool is a plain typed function `fn(env, **args) -> ToolResult`; its docstring is what a
model sees and its signature (minus `env`) becomes a pydantic argument model, so the JSON
schema a model is constrained to and the validation of its call come from one place.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from core.keys import Role
from tools.chat import controls, customers, decisions, journeys, performance, reviews
from tools.chat.creative import preview_creative
from tools.chat.env import ToolEnv, ToolError, ToolResult

__all__ = ["TOOLS", "ToolSpec", "tool_by_name", "tools_for_role"]

READERS = frozenset({Role.marketer, Role.reviewer, Role.admin})
MARKETERS = frozenset({Role.marketer, Role.admin})
REVIEWERS = frozenset({Role.reviewer, Role.admin})


def _args_model(fn: Callable[..., ToolResult]) -> type[BaseModel]:
    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if name == "env":
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (hints[name], default)
    config = ConfigDict(extra="forbid")
    return create_model(f"{fn.__name__}_args", __config__=config, **fields)


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the chat agent offers it."""

    fn: Callable[..., ToolResult]
    roles: frozenset[Role]
    confirm: Callable[[dict[str, Any]], str | None] = lambda _args: None
    # For a confirmation about something in the database (a review's content, a proposal):
    # resolves the call to exactly what the question shows, before it is asked; the tool then
    # acts on that and nothing else. Returns (bound arguments, question).
    bind: Callable[[ToolEnv, dict[str, Any]], tuple[dict[str, Any], str]] | None = None
    args_model: type[BaseModel] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "args_model", _args_model(self.fn))

    @property
    def name(self) -> str:
        return self.fn.__name__

    def needs_confirmation(self, args: dict[str, Any]) -> bool:
        return self.bind is not None or self.confirm(args) is not None

    @property
    def description(self) -> str:
        return inspect.cleandoc(self.fn.__doc__ or self.name)

    def schema(self) -> dict[str, Any]:
        """JSON schema of the arguments (what constrained decoding and bind_tools use)."""
        return self.args_model.model_json_schema()

    def as_openai_tool(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.schema(),
            },
        }

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Checked arguments (defaults filled), or ValidationError naming the field."""
        return self.args_model.model_validate(args).model_dump()

    def run(self, env: ToolEnv, args: dict[str, Any]) -> ToolResult:
        try:
            checked = self.validate(args)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "arguments"
            raise ToolError(f"{self.name}: {where}: {first['msg']}") from exc
        return self.fn(env, **checked)


def _confirm_pause(args: dict[str, Any]) -> str | None:
    if args.get("scope") == "all":
        return "This pauses ALL sending on every channel and journey. Go ahead?"
    return None


def _confirm_resume(args: dict[str, Any]) -> str | None:
    if args.get("scope") == "all":
        return "This resumes ALL sending: every held message may go out now. Go ahead?"
    return None


TOOLS: tuple[ToolSpec, ...] = (
    # customer data is for marketers, as on the API (GET /v1/customers is marketer-only)
    ToolSpec(customers.count_customers, READERS),
    ToolSpec(customers.list_customers, MARKETERS),
    ToolSpec(customers.get_customer_profile, MARKETERS),
    ToolSpec(customers.get_customer_timeline, MARKETERS),
    ToolSpec(decisions.explain_decision, READERS),
    ToolSpec(performance.journey_performance, READERS),
    ToolSpec(performance.channel_performance, READERS),
    ToolSpec(controls.show_pauses, READERS),
    ToolSpec(controls.pause, MARKETERS, confirm=_confirm_pause),
    ToolSpec(controls.resume, MARKETERS, confirm=_confirm_resume),
    ToolSpec(preview_creative, READERS),
    ToolSpec(journeys.list_journeys, READERS),
    ToolSpec(journeys.draft_journey, MARKETERS),
    ToolSpec(journeys.accept_journey, MARKETERS, bind=journeys.bind_accept),
    ToolSpec(reviews.list_reviews, REVIEWERS),
    ToolSpec(reviews.approve_review, REVIEWERS, bind=reviews.bind_approval),
    ToolSpec(reviews.reject_review, REVIEWERS),
)
_BY_NAME = {t.name: t for t in TOOLS}


def tool_by_name(name: str) -> ToolSpec:
    if name not in _BY_NAME:
        raise ToolError(f"unknown tool {name!r}")
    return _BY_NAME[name]


def tools_for_role(role: Role) -> list[ToolSpec]:
    """Only the tools this role may use: the others are never offered to the model."""
    return [t for t in TOOLS if role in t.roles]
