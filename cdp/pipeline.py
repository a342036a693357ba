"""Processing: accepted events -> identity resolution -> profile + computed traits -> triggers.

Each batch is one transaction: an event's profile change, trigger firings and its
`processed_at` mark commit together, so an event is processed exactly once even when several
processors run or one dies mid-batch (its transaction rolls back and the events stay pending).
Processors are serialised per database (SQLite's single writer; a PostgreSQL advisory lock),
which also keeps per-customer order: events are taken in arrival order.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cdp.batch import Batch
from cdp.identity import Key, identities_of, resolve_identities
from cdp.profiles import apply_to_profile
from cdp.triggers import TriggerSet, load_rules, on_event, run_due
from core.clock import as_utc, utcnow
from core.db import session_scope
from core.tables import Event

_EVENTS: Any = Event.__table__  # type: ignore[attr-defined]

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


def _alias_keys(batch: Batch, event: Any) -> list[Key]:
    previous = str(event.properties.get("previousId") or "")
    kind = "user_id" if batch.graph.owner(("user_id", previous)) else "anonymous_id"
    keys: list[Key] = [("user_id", str(event.user_id))]
    if previous and (kind, previous) != keys[0]:
        keys.append((kind, previous))
    return keys


def process_event(
    session: Session, event: Any, rules: TriggerSet, now: datetime, batch: Batch
) -> int:
    """Resolve, update the profile, evaluate triggers, mark processed; returns firings made.

    `event` is an `events` row (attribute access as on core.tables.Event).
    """
    if event.type == "alias":
        keys, explicit = _alias_keys(batch, event), True
    else:
        keys, explicit = identities_of(event), False
    customer_id, merged = resolve_identities(session, keys, explicit=explicit, graph=batch.graph)
    if merged:
        session.expire_all()  # the merge changed rows behind the batch's back; re-read them
    profile = batch.profile(customer_id, created=customer_id in batch.graph.created)
    before: dict[str, Any] = profile.computed  # replaced, not mutated, by apply_to_profile
    # Consent changes that come from events are not audited one by one: the stored event is
    # the record and the profile is a fold of the events. Direct opt-outs are audited.
    apply_to_profile(profile, event)
    fired = on_event(session, rules, event, customer_id, before, profile.computed, now, batch.jobs)
    batch.mark_processed(event.id, customer_id, utcnow())
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
            session.execute(
                _EVENTS.select()
                .where(_EVENTS.c.processed_at.is_(None))
                .order_by(_EVENTS.c.id)
                .limit(limit)
            )
        )
        batch = Batch.load(session, events, rules)
        for event in events:
            process_event(session, event, rules, now, batch)
        batch.write()
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
