"""What a channel adapter is: a typed `send(delivery) -> SendResult` with an error contract.

Adapters raise `TransientSendError` for failures worth retrying (timeouts, 429, 5xx, SMTP 4xx)
and `PermanentSendError` for ones that will never succeed (bad payload, 4xx, SMTP 5xx, opt-out).
The dispatcher owns retries, backoff and dead-lettering; adapters never retry on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "Channel",
    "Delivery",
    "PermanentSendError",
    "SendResult",
    "TransientSendError",
    "require_text",
]


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One outbox message as an adapter sees it (a snapshot, independent of any DB session)."""

    message_id: str
    key: str
    channel: str
    payload: dict[str, Any]
    customer_id: str | None = None
    journey_slug: str | None = None
    run_id: str | None = None
    decision_id: str | None = None
    action_id: str | None = None
    attempt: int = 1
    created_at: datetime | None = None


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the message; `provider_message_id` is its id for it (if any)."""

    provider_message_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class TransientSendError(Exception):
    """Worth retrying later; `retry_after` (seconds) is the provider's own hint, if it gave one."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentSendError(Exception):
    """Will not succeed on retry; the message is dead-lettered with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Channel(Protocol):
    """A channel adapter. `send` must pass `delivery.key` to the provider when it accepts one."""

    name: str

    def send(self, delivery: Delivery) -> SendResult: ...


def require_text(payload: dict[str, Any], name: str, channel: str) -> str:
    """The non-empty string `payload[name]`, or a permanent error naming the field."""
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise PermanentSendError(f"payload.{name}: required non-empty string for {channel}")
    return value
