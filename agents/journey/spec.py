"""Journey definitions as YAML: a versioned, validated schema the graph interprets.

The marketer chat drafts journeys with this same schema, so every error names the field path
(`steps.2.duration`) and the reason, and nothing half-valid gets through.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.domain import CHANNELS

__all__ = [
    "JOURNEY_CHANNELS",
    "ActionStep",
    "BranchRule",
    "BranchStep",
    "Condition",
    "EndStep",
    "Goal",
    "JourneySpec",
    "JourneySpecError",
    "ReviewPolicy",
    "WaitStep",
    "load_journey_yaml",
    "parse_duration",
]

# Channels a journey step can act through (each has an outbox payload, agents/journey/wiring).
JOURNEY_CHANNELS = ("email", "sms", "push", "csm", "audience")
_NOT_FOR_JOURNEYS = {
    "web": "web content is served to the site by GET /v1/decide, not sent by a journey",
    "webhook": "a journey step has no webhook destination to post to",
}
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SLUG = r"^[a-z0-9][a-z0-9_-]{0,99}$"
END = "end"


def parse_duration(text: str) -> timedelta:
    """`30m`, `3d`, `2w` -> timedelta; anything else is an error naming the format."""
    match = _DURATION.match(str(text))
    if match is None:
        raise ValueError(f"duration {text!r} must look like 30s, 15m, 1h, 3d or 2w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class JourneySpecError(ValueError):
    """A journey definition that cannot run; `errors` lists {field, reason} pairs."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        lines = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        super().__init__(f"invalid journey: {lines}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Model):
    """A test on a run's facts: `profile.computed.x`, `steps.<id>.outcome`, `goal_reached`."""

    field: str = Field(
        pattern=r"^(profile\.(traits|computed|consent)\.[\w.]+|steps\.[\w-]+\.\w+|goal_reached)$"
    )
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "exists"] = "eq"
    value: Any = None


class BranchRule(_Model):
    when: Condition
    goto: str


class Goal(_Model):
    """The conversion that ends the journey early and counts as success (attribution window)."""

    event: str = Field(min_length=1, max_length=200)
    window: str = "14d"
    revenue_property: str = "revenue"

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_duration(value)
        return value


class ReviewPolicy(_Model):
    """When a human must approve before anything is sent."""

    always: bool = False
    min_conformance: float = Field(default=0.0, ge=0.0, le=1.0)
    # How long a reviewer has before the review expires (to "do nothing"); unset: the
    # guardrail policy's `review.sla_hours`.
    expires_after: str | None = None

    @field_validator("expires_after")
    @classmethod
    def _expires(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class _Step(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    next: str | None = None


class ActionStep(_Step):
    """Decide among allowed actions/channels, write creative, check, send or escalate."""

    kind: Literal["action"]
    actions: list[str] | None = None
    channels: list[str] | None = None
    review: bool = Field(default=False, description="Always ask a human before this step sends.")

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str] | None) -> list[str] | None:
        usable = ", ".join(JOURNEY_CHANNELS)
        for channel in value or []:
            if channel in _NOT_FOR_JOURNEYS:
                why = _NOT_FOR_JOURNEYS[channel]
                raise ValueError(
                    f"channel {channel!r} cannot be used in a journey ({why}); use one of: {usable}"
                )
            if channel not in CHANNELS:
                raise ValueError(f"unknown channel {channel!r}; a journey step can use: {usable}")
        return value


class WaitStep(_Step):
    """Wait durably; the goal event ends the wait (and the journey) early."""

    kind: Literal["wait"]
    duration: str

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class BranchStep(_Step):
    """First matching rule wins; `default` otherwise."""

    kind: Literal["branch"]
    rules: list[BranchRule] = Field(min_length=1)
    default: str


class EndStep(_Step):
    kind: Literal["end"]


Step = Annotated[ActionStep | WaitStep | BranchStep | EndStep, Field(discriminator="kind")]


class JourneySpec(_Model):
    """One journey version; runs pin the version they started with."""

    slug: str = Field(pattern=_SLUG)
    version: int = Field(default=1, ge=1)
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    trigger: str = Field(min_length=1, max_length=100)
    goal: Goal | None = None
    holdout_pct: float = Field(default=0.0, ge=0.0, le=50.0)
    review: ReviewPolicy = ReviewPolicy()
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _links(self) -> JourneySpec:
        ids = [step.id for step in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"step ids must be unique; repeated: {', '.join(dupes)}")
        known = set(ids) | {END}
        for index, step in enumerate(self.steps):
            targets = [("next", step.next)]
            if isinstance(step, BranchStep):
                targets.append(("default", step.default))
                targets += [(f"rules.{i}.goto", r.goto) for i, r in enumerate(step.rules)]
            for name, target in targets:
                if target is not None and target not in known:
                    raise ValueError(
                        f"steps.{index}.{name}: unknown step {target!r} (known: {', '.join(ids)})"
                    )
        return self

    def step(self, step_id: str) -> ActionStep | WaitStep | BranchStep | EndStep | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def following(self, step_id: str) -> str:
        """Where a step goes when it does not say: the next one in the list, or the end."""
        step = self.step(step_id)
        if step is not None and step.next is not None:
            return step.next
        ids = [s.id for s in self.steps]
        index = ids.index(step_id) if step_id in ids else len(ids)
        return ids[index + 1] if index + 1 < len(ids) else END


def load_journey_yaml(text: str) -> JourneySpec:
    """Parse and validate one journey; raises JourneySpecError listing every bad field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise JourneySpecError([{"field": "<yaml>", "reason": str(exc)}]) from exc
    if not isinstance(raw, dict):
        raise JourneySpecError([{"field": "<root>", "reason": "expected a mapping of fields"}])
    try:
        return JourneySpec.model_validate(raw)
    except ValidationError as exc:
        raise JourneySpecError(_field_errors(exc)) from exc


def _field_errors(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for error in exc.errors():
        # drop the discriminator tag pydantic inserts (steps.1.wait.duration -> steps.1.duration)
        loc = [str(p) for p in error["loc"] if p not in {"action", "wait", "branch", "end"}]
        message = str(error["msg"]).removeprefix("Value error, ")
        if message.startswith("steps.") and not loc:
            field, _, message = message.partition(": ")
            loc = [field]
        out.append({"field": ".".join(loc) or "<root>", "reason": message})
    return out


def spec_from_state(data: dict[str, Any]) -> JourneySpec:
    """The spec a run carries in its state (a plain dict, so checkpoints stay JSON-like)."""
    return JourneySpec.model_validate(data)
