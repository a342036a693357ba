"""Durable accept with deduplication: the only thing the ingestion API does before answering.

An event is stored in `events` (unique `message_id`) and committed before the caller hears 202.
A repeated messageId is acknowledged and ignored: `INSERT ... ON CONFLICT DO NOTHING` makes that
hold across API processes, workers and restarts, for as long as the row is kept (no expiry, so
the window is at least the 7 days Segment asks for). Processing happens later, see pipeline.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from cdp.events import AnyMessage, event_row
from core.clock import utcnow
from core.tables import Event

__all__ = ["accept", "insert_ignoring_duplicates"]

_TABLE: Any = Event.__table__  # type: ignore[attr-defined]


def insert_ignoring_duplicates(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert event rows; rows whose message_id is already stored are silently skipped."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_TABLE).on_conflict_do_nothing(index_elements=["message_id"])
    session.execute(stmt, list(rows))


def accept(
    session: Session,
    messages: Sequence[AnyMessage],
    *,
    received_at: datetime | None = None,
) -> list[bool]:
    """Store messages in the caller's transaction; returns, per message, whether it was new.

    A message repeated inside the same call counts as a duplicate after its first occurrence.
    """
    received_at = received_at or utcnow()
    for message in messages:
        if (
            message.message_id is None
        ):  # no dedup possible for it; Segment libraries always send one
            message.message_id = f"gen-{uuid.uuid4().hex}"
    rows = [event_row(m, received_at) for m in messages]
    ids = [r["message_id"] for r in rows]
    known = set(
        session.execute(select(_TABLE.c.message_id).where(_TABLE.c.message_id.in_(ids))).scalars()
    )
    fresh: list[bool] = []
    to_insert: list[dict[str, Any]] = []
    for row in rows:
        is_new = row["message_id"] not in known
        fresh.append(is_new)
        if is_new:
            known.add(row["message_id"])
            to_insert.append(row)
    insert_ignoring_duplicates(session, to_insert)
    return fresh
