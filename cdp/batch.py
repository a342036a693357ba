"""What one processing transaction keeps in memory, and how it writes it back in bulk.

Reading identities, profiles and scheduled rows for a whole batch at once, folding events into
plain objects and writing each changed row once (executemany) is what makes processing fast;
constructing and dirty-tracking ORM objects per event cost several times more.
Before an identity merge (rare) everything is written out so the merge sees current rows.
Audit entries are queued and appended last (cdp/audit_queue.py says why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session

from cdp.audit_queue import AuditQueue
from cdp.identity import IdentityGraph, identities_of
from cdp.partitions import lock_customers
from cdp.profiles import ProfileState
from cdp.triggers import Jobs, TriggerSet, preload_jobs, write_jobs
from core.tables import Event, Profile

__all__ = ["Batch"]

_PROFILES: Any = Profile.__table__  # type: ignore[attr-defined]
_EVENTS: Any = Event.__table__  # type: ignore[attr-defined]


@dataclass
class Batch:
    session: Session
    rules: TriggerSet
    graph: IdentityGraph = field(init=False)
    profiles: dict[str, ProfileState] = field(default_factory=dict)
    jobs: Jobs = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    done: list[dict[str, Any]] = field(default_factory=list)
    audits: AuditQueue = field(default_factory=AuditQueue)

    def __post_init__(self) -> None:
        self.graph = IdentityGraph(self.session, on_merge=self.write)

    @classmethod
    def load(cls, session: Session, events: list[Any], rules: TriggerSet) -> Batch:
        """Read what `events` need; on PostgreSQL also lock the customers they resolve to
        (partitions.lock_customers; raises IdentitiesMoved when the batch must start again)."""
        batch = cls(session, rules)
        keys = [k for e in events for k in identities_of(e)]
        keys += [
            (kind, str(e.properties.get("previousId")))
            for e in events
            if e.type == "alias"
            for kind in ("user_id", "anonymous_id")
        ]
        batch.graph.preload(keys)
        lock_customers(session, batch.graph, keys)
        owners = sorted({c for c in batch.graph.owners.values() if c is not None})
        batch._read(owners)
        return batch

    def _read(self, customer_ids: list[str]) -> None:
        for start in range(0, len(customer_ids), 500):
            chunk = customer_ids[start : start + 500]
            for row in self.session.execute(
                _PROFILES.select().where(_PROFILES.c.customer_id.in_(chunk))
            ):
                self.profiles[row.customer_id] = ProfileState.of_row(row)
        preload_jobs(self.session, customer_ids, self.jobs)
        for cid in customer_ids:
            self.known.add(cid)
            for rule in self.rules.triggers:
                self.jobs.setdefault((rule.name, cid), None)

    def profile(self, customer_id: str, *, created: bool) -> ProfileState:
        """The profile state; `created` says resolve_identities made the customer just now."""
        if customer_id not in self.known:
            if created:
                self.known.add(customer_id)
                for rule in self.rules.triggers:
                    self.jobs.setdefault((rule.name, customer_id), None)
            else:
                self._read([customer_id])
        state = self.profiles.get(customer_id)
        if state is None:
            state = self.profiles[customer_id] = ProfileState(customer_id)
        return state

    def mark_processed(self, event_id: int, customer_id: str, at: datetime) -> None:
        self.done.append({"event_id": event_id, "v_customer_id": customer_id, "v_at": at})

    def finish(self) -> None:
        """Write everything, then the queued audit entries (the transaction commits next)."""
        self.write()
        self.audits.append_all(self.session)

    def write(self) -> None:
        """Write everything changed so far; afterwards caches are re-read on demand."""
        self.graph.flush_new()
        fresh = [p for p in self.profiles.values() if not p.stored]
        old = [p for p in self.profiles.values() if p.stored]
        if fresh:
            self.session.execute(
                _PROFILES.insert(), [{"customer_id": p.customer_id, **p.values()} for p in fresh]
            )
        if old:
            stmt = (
                _PROFILES.update()
                .where(_PROFILES.c.customer_id == bindparam("cid"))
                .values(**{f: bindparam(f"v_{f}") for f in ProfileState.FIELDS})
            )
            rows = [
                {"cid": p.customer_id, **{f"v_{k}": v for k, v in p.values().items()}} for p in old
            ]
            self.session.execute(stmt, rows)
        write_jobs(self.session, self.jobs)
        if self.done:
            stmt = (
                _EVENTS.update()
                .where(_EVENTS.c.id == bindparam("event_id"))
                .values(customer_id=bindparam("v_customer_id"), processed_at=bindparam("v_at"))
            )
            self.session.execute(stmt, self.done)
        self.done = []
        self.graph.created.clear()  # written now: from here on they are read like any other
        self.profiles.clear()
        self.jobs.clear()
        self.known.clear()
