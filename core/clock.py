"""One place for "now", so tests and replays can move time deliberately.

cjo keeps every timestamp as a timezone-aware UTC datetime (SQLModel's UTCDateTime columns
refuse naive values); local times exist only at the edges (quiet hours, send-time choice).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["as_utc", "utcnow"]


def utcnow() -> datetime:
    """Current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Convert to aware UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
