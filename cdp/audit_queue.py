"""Audit entries a processing batch appends at its end rather than one by one as it goes.

`core.audit.append` serialises appenders on the chain until they commit (a PostgreSQL advisory
lock), so an entry appended mid-batch would hold back every other batch that audits until this
one commits. Queued and appended just before the commit, the entries still commit with the
changes they record, and the chain is held only for the batch's last moments.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from core import audit

__all__ = ["AuditQueue", "record"]


class AuditQueue:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, **entry: Any) -> None:
        self.entries.append(entry)

    def append_all(self, session: Session) -> None:
        for entry in self.entries:
            audit.append(session, **entry)
        self.entries.clear()


def record(session: Session, queue: AuditQueue | None, **entry: Any) -> None:
    """Append the entry now, or queue it when the caller is a batch (`queue`)."""
    if queue is None:
        audit.append(session, **entry)
    else:
        queue.add(**entry)
