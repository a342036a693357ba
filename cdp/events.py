"""Segment-spec messages (track, identify, page/screen, group, alias) as pydantic models.

RudderStack and most CDPs emit the same shape, so anything that can feed Segment can feed cjo.
Field names stay camelCase on the wire (`userId`); Python code reads them snake_case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator
from pydantic.alias_generators import to_camel

from core.clock import as_utc

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
]

_ID = Annotated[str, Field(min_length=1, max_length=200)]


class _Base(BaseModel):
    """Fields every Segment message carries; unknown top-level keys are ignored, as Segment does."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    message_id: _ID | None = Field(
        default=None, description="Dedup key; generated when absent (then no dedup is possible)."
    )
    user_id: _ID | None = None
    anonymous_id: _ID | None = None
    timestamp: datetime | None = Field(default=None, description="When it happened (event time).")
    sent_at: datetime | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    integrations: dict[str, Any] = Field(default_factory=dict)

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
    event: Annotated[str, Field(min_length=1, max_length=200)]
    properties: dict[str, Any] = Field(default_factory=dict)


class Identify(_Base):
    type: Literal["identify"] = "identify"
    traits: dict[str, Any] = Field(default_factory=dict)


class Page(_Base):
    type: Literal["page", "screen"] = "page"
    name: str | None = Field(default=None, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)


class Group(_Base):
    """Ties the user to a group (an account, a company). The group's traits describe the group,
    not the person, so they are kept on the event (`properties.traits`) and never merged into
    the user's profile or used to resolve their identity."""

    type: Literal["group"] = "group"
    group_id: _ID
    traits: dict[str, Any] = Field(default_factory=dict)

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
