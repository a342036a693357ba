"""Processing: accepted events -> identity resolution -> profile + computed traits -> triggers.

Each batch is one transaction: an event's profile change, trigger firings and its
`processed_at` mark commit together, so an event is processed exactly once even when several
processors run or one dies mid-batch (its transaction rolls back and the events stay pending).
Processors are serialised per database (SQLite's single writer; a PostgreSQL advisory lock),
which also keeps per-customer order: events are taken in arrival order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cdp.identity import IdentityGraph, Key, identities_of, resolve_identities
from cdp.profiles import apply_to_profile
from cdp.traits import public_traits
from cdp.triggers import Jobs, TriggerSet, load_rules, on_event, preload_jobs, run_due
from core.clock import as_utc, utcnow
from core.db import session_scope
from core.tables import Event, Profile

__all__ = ["default_rules", "process_event", "process_pending", "run_scheduler"]

_LOCK_KEY = zlib.crc32(b"cjo-cdp-pipeline")
_rules: TriggerSet | None = None


def default_rules() -> TriggerSet:
    """The rules in examples/triggers.yaml, read once per process."""
    global _rules
    if _rules is None:
        _rules = load_rules()
    return _rules


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


@dataclass
class Batch:
    """What one processing transaction has read so far: identities, profiles, scheduled rows."""

    graph: IdentityGraph
    rules: TriggerSet
    profiles: dict[str, Profile] = field(default_factory=dict)
    jobs: Jobs = field(default_factory=dict)
    known: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session, events: list[Event], rules: TriggerSet) -> Batch:
        graph = IdentityGraph(session)
        keys = [k for e in events for k in identities_of(e)]
        keys += [
            (kind, str(e.properties.get("previousId")))
            for e in events
            if e.type == "alias"
            for kind in ("user_id", "anonymous_id")
        ]
        graph.preload(keys)
        batch = cls(graph, rules)
        owners = sorted({c for c in graph.owners.values() if c is not None})
        for start in range(0, len(owners), 500):
            for row in session.exec(
                select(Profile).where(col(Profile.customer_id).in_(owners[start : start + 500]))
            ):
                batch.profiles[row.customer_id] = row
        preload_jobs(session, owners, batch.jobs)
        for cid in owners:
            batch.settle_new(cid, stored=True)
        return batch

    def settle_new(self, customer_id: str, *, stored: bool) -> None:
        """Remember a customer whose rows are all read (or, if just created, that none exist)."""
        self.known.add(customer_id)
        for rule in self.rules.triggers:
            self.jobs.setdefault((rule.name, customer_id), None)
        if not stored:
            profile = Profile(customer_id=customer_id)
            self.profiles[customer_id] = profile
            self.graph.session.add(profile)

    def profile(self, session: Session, customer_id: str) -> Profile:
        found = self.profiles.get(customer_id) or session.get(Profile, customer_id)
        if found is None:
            found = Profile(customer_id=customer_id)
            session.add(found)
        self.profiles[customer_id] = found
        return found

    def forget(self, *customer_ids: str) -> None:
        """After a merge, re-read these customers' rows from the database."""
        for cid in customer_ids:
            self.known.discard(cid)
            self.profiles.pop(cid, None)
            for key in [k for k in self.jobs if k[1] == cid]:
                del self.jobs[key]


def _alias_keys(batch: Batch, event: Event) -> list[Key]:
    previous = str(event.properties.get("previousId") or "")
    kind = "user_id" if batch.graph.owner(("user_id", previous)) else "anonymous_id"
    keys: list[Key] = [("user_id", str(event.user_id))]
    if previous and (kind, previous) != keys[0]:
        keys.append((kind, previous))
    return keys


def process_event(
    session: Session, event: Event, rules: TriggerSet, now: datetime, batch: Batch
) -> int:
    """Resolve, update the profile, evaluate triggers, mark processed; returns firings made."""
    if event.type == "alias":
        keys, explicit = _alias_keys(batch, event), True
    else:
        keys, explicit = identities_of(event), False
    customer_id, merged = resolve_identities(session, keys, explicit=explicit, graph=batch.graph)
    if merged:
        batch.forget(customer_id, *merged)
    elif customer_id not in batch.known:
        batch.settle_new(customer_id, stored=False)  # created just now by resolve_identities
    profile = batch.profile(session, customer_id)
    before: dict[str, Any] = public_traits(profile.computed)
    # Consent changes that come from events are not audited one by one: the stored event is
    # the record and the profile is a fold of the events. Direct opt-outs are audited.
    apply_to_profile(profile, event)
    fired = on_event(
        session, rules, event, customer_id, before, public_traits(profile.computed), now, batch.jobs
    )
    event.customer_id = customer_id
    event.processed_at = utcnow()
    return fired


def process_pending(
    engine: Engine,
    *,
    limit: int = 1000,
    now: datetime | None = None,
    rules: TriggerSet | None = None,
) -> int:
    """Process up to `limit` accepted-but-unprocessed events in one transaction; returns how many.

    `now` is the clock triggers judge staleness by (default: wall clock). Idempotent: processed
    events are never taken again.
    """
    now = as_utc(now) if now else utcnow()
    rules = rules if rules is not None else default_rules()
    with session_scope(engine) as session, session.no_autoflush:
        _lock(session)
        events = list(
            session.exec(
                select(Event)
                .where(col(Event.processed_at).is_(None))
                .order_by(col(Event.id))
                .limit(limit)
            ).all()
        )
        batch = Batch.load(session, events, rules)
        for event in events:
            process_event(session, event, rules, now, batch)
        session.flush()
        return len(events)


def run_scheduler(
    engine: Engine, *, now: datetime | None = None, rules: TriggerSet | None = None
) -> int:
    """Fire due `after` triggers; returns firings made. Safe to run from several processes."""
    now = as_utc(now) if now else utcnow()
    rules = rules if rules is not None else default_rules()
    with session_scope(engine) as session:
        _lock(session)
        return run_due(session, rules, now)


def drain(
    engine: Engine,
    *,
    now: datetime | None = None,
    rules: TriggerSet | None = None,
    batch: int = 1000,
) -> int:
    """Process until nothing is pending; returns the number of events processed."""
    total = 0
    while n := process_pending(engine, limit=batch, now=now, rules=rules):
        total += n
    return total
