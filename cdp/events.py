"""Segment-spec messages (track, identify, page/screen, group, alias) as pydantic models.

RudderStack and most CDPs emit the same shape, so anything that can feed Segment can feed cjo.
Field names stay camelCase on the wire (`userId`); Python code reads them snake_case.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from core.clock import as_utc, utcnow

__all__ = [
    "MESSAGE_ADAPTER",
    "MESSAGE_TYPES",
    "Alias",
    "AnyMessage",
    "Group",
    "Identify",
    "Message",
    "Page",
    "Track",
    "event_row",
    "event_time",
]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=366)  # clock skew and scheduled sends, not a year 9999
MAX_DEPTH = 32  # nesting of properties/traits/context objects and lists
_INT64 = 2**63


def _no_nul(value: str) -> str:
    """PostgreSQL cannot store the NUL character in text."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


def _plain_text(value: str) -> str:
    """Identifiers and event names: visible text, no NUL."""
    _no_nul(value)
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def event_time(value: datetime | None) -> datetime | None:
    """UTC, between 1970 and a year from now: a time outside breaks every later computation
    on the customer's profile (recency, schedules), so it is refused at the door."""
    if value is None:
        return None
    try:
        at = as_utc(value)
        latest = utcnow() + FUTURE_SLACK
    except OverflowError as exc:
        raise ValueError("is out of range") from exc
    if not EARLIEST <= at <= latest:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {latest:%Y-%m-%d} (UTC)")
    return at


def _storable(value: Any, depth: int = 0) -> Any:
    """JSON cjo can store and compute with: nesting at most MAX_DEPTH, integers within 64
    bits, no NUL in strings or keys."""
    if depth > MAX_DEPTH:
        raise ValueError(f"is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                raise ValueError("has a key with the NUL character")
            _storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable(item, depth + 1)
    elif isinstance(value, str):
        if "\x00" in value:
            raise ValueError("has a string with the NUL character")
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -_INT64 <= value < _INT64:
            raise ValueError("has an integer outside the 64-bit range")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("has a number that is not finite")
    return value


def _amounts(properties: dict[str, Any]) -> dict[str, Any]:
    """Order amounts (`revenue`, `total`, `value`) are summed into lifetime value: finite and
    below 1e12 (a trillion in any currency is a typo or an attack, not an order)."""
    for key in ("revenue", "total", "value"):
        amount = properties.get(key)
        if isinstance(amount, int | float) and not isinstance(amount, bool) and abs(amount) >= 1e12:
            raise ValueError(f"{key} must be below 1e12 in absolute value")
    return properties


_ID = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_plain_text)]
_JSON = Annotated[dict[str, Any], AfterValidator(_storable)]
_WHEN = Annotated[datetime | None, AfterValidator(event_time)]


class _Base(BaseModel):
    """Fields every Segment message carries; unknown top-level keys are ignored, as Segment does."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    message_id: _ID | None = Field(
        default=None, description="Dedup key; generated when absent (then no dedup is possible)."
    )
    user_id: _ID | None = None
    anonymous_id: _ID | None = None
    timestamp: _WHEN = Field(default=None, description="When it happened (event time).")
    sent_at: _WHEN = None
    context: _JSON = Field(default_factory=dict)
    integrations: _JSON = Field(default_factory=dict)

    @field_validator("user_id", "anonymous_id", "message_id", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        # Segment libraries send numeric ids as numbers at times; they are identifiers, not numbers.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @model_validator(mode="after")
    def _needs_an_identity(self) -> _Base:
        if self.user_id is None and self.anonymous_id is None and not isinstance(self, Alias):
            raise ValueError("userId or anonymousId is required")
        return self


class Track(_Base):
    type: Literal["track"] = "track"
    event: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_plain_text)]
    properties: Annotated[_JSON, AfterValidator(_amounts)] = Field(default_factory=dict)


class Identify(_Base):
    type: Literal["identify"] = "identify"
    traits: _JSON = Field(default_factory=dict)


class Page(_Base):
    type: Literal["page", "screen"] = "page"
    name: Annotated[str, Field(max_length=200), AfterValidator(_no_nul)] | None = None
    properties: _JSON = Field(default_factory=dict)


class Group(_Base):
    """Ties the user to a group (an account, a company). The group's traits describe the group,
    not the person, so they are kept on the event (`properties.traits`) and never merged into
    the user's profile or used to resolve their identity."""

    type: Literal["group"] = "group"
    group_id: _ID
    traits: _JSON = Field(default_factory=dict)

    @field_validator("group_id", mode="before")
    @classmethod
    def _group_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Alias(_Base):
    type: Literal["alias"] = "alias"
    previous_id: _ID
    user_id: _ID  # required for alias

    @field_validator("previous_id", mode="before")
    @classmethod
    def _previous_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


AnyMessage: TypeAlias = Track | Identify | Page | Group | Alias
Message = Annotated[AnyMessage, Field(discriminator="type")]
MESSAGE_ADAPTER: TypeAdapter[AnyMessage] = TypeAdapter(Message)
# Every `type` a message may have (`screen` is a Page of type screen).
MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")


def event_row(message: AnyMessage, received_at: datetime) -> dict[str, Any]:
    """The `core.tables.Event` column values for one message (not yet resolved or processed).

    Event time is the message's `timestamp` as sent (no clock-skew correction by `sentAt`, so a
    replay of the same file yields the same times); it defaults to the receive time.
    """
    props: dict[str, Any] = {}
    name: str | None = None
    traits: dict[str, Any] = {}
    if isinstance(message, Track):
        props, name = message.properties, message.event
    elif isinstance(message, Page):
        props, name = message.properties, message.name
    elif isinstance(message, Identify):
        traits = message.traits
    elif isinstance(message, Group):
        props = {"groupId": message.group_id, "traits": message.traits}
    elif isinstance(message, Alias):
        props = {"previousId": message.previous_id}
    return {
        "message_id": message.message_id,
        "type": message.type,
        "event": name,
        "user_id": message.user_id,
        "anonymous_id": message.anonymous_id,
        "timestamp": as_utc(message.timestamp) if message.timestamp else received_at,
        "received_at": received_at,
        "properties": props,
        "traits": traits,
        "context": message.context,
    }
