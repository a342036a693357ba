"""Small builders of Segment messages for CDP tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from cdp.events import MESSAGE_ADAPTER
from cdp.ingest import accept
from core.db import session_scope

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_seq = itertools.count(1)


def at(minutes: float = 0) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def track(event: str, user: str | None = "u1", minutes: float = 0, **props: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "type": "track",
        "event": event,
        "timestamp": at(minutes),
        "properties": props,
    }
    msg["messageId"] = f"m{next(_seq)}"
    if user:
        msg["userId"] = user
    return msg


def identify(
    user: str | None = "u1", minutes: float = 0, anon: str | None = None, **traits: Any
) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "type": "identify",
        "traits": traits,
        "timestamp": at(minutes),
        "messageId": f"m{next(_seq)}",
    }
    if user:
        msg["userId"] = user
    if anon:
        msg["anonymousId"] = anon
    return msg


def order(user: str = "u1", minutes: float = 0, revenue: float = 10.0) -> dict[str, Any]:
    return track("Order Completed", user, minutes, revenue=revenue)


def ingest(engine: Engine, *messages: dict[str, Any]) -> list[bool]:
    with session_scope(engine) as session:
        return accept(session, [MESSAGE_ADAPTER.validate_python(m) for m in messages])
