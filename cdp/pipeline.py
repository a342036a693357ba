"""Processing: accepted events -> identity resolution -> profile + computed traits -> triggers.

Each batch is one transaction: an event's profile change, trigger firings and its
`processed_at` mark commit together, so an event is processed exactly once even when several
processors run or one dies mid-batch (its transaction rolls back and the events stay pending).
On PostgreSQL batches run in parallel: each takes partitions of the routing keys and locks the
customers it touches (cdp/partitions.py), so one customer is worked on by one batch at a time
and one routing key's events keep their arrival order; the profile folds do not depend on order
anyway (docs/cdp.md). On SQLite batches are serial (one writer).

An event that cannot be processed (its data breaks a computation, not the database being
away) would fail its batch again and again, and every later event behind it. So a batch that
fails on its data is redone one event per transaction, and an event that fails alone twice is
quarantined: marked processed without a customer, with an `event.quarantined` audit entry
naming the error, so processing goes on. Clearing its `processed_at` queues it again.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session, col

from cdp.batch import Batch
from cdp.identity import Key, identities_of, resolve_identities
from cdp.partitions import IdentitiesMoved, claim_event, claim_events
from cdp.profiles import apply_to_profile
from cdp.triggers import TriggerSet, load_rules, on_event, run_due
from core import audit
from core.clock import as_utc, utcnow
from core.db import session_scope
from core.tables import Event

__all__ = ["default_rules", "drain", "process_event", "process_pending", "run_scheduler"]

log = logging.getLogger("cjo.cdp.pipeline")
_rules: TriggerSet | None = None
# A batch that finds its identities moved (or is picked as a deadlock victim) starts again at
# once; this many times in a row is not contention any more but something to report.
_ATTEMPTS = 20
_DEADLOCK = "40P01"
# The database being away or busy: retried, never blamed on an event.
_NOT_THE_DATA = (OperationalError, InterfaceError, IdentitiesMoved)
_ALONE_ATTEMPTS = 2  # an event that fails alone this often is quarantined


class BatchFailed(Exception):
    """A batch failed on its data; `event_ids` are the events it had claimed."""

    def __init__(self, event_ids: list[int], cause: BaseException) -> None:
        super().__init__(f"processing {len(event_ids)} event(s) failed: {cause!r}")
        self.event_ids = event_ids
        self.cause = cause


def default_rules() -> TriggerSet:
    """The rules in examples/triggers.yaml, read once per process."""
    global _rules
    if _rules is None:
        _rules = load_rules()
    return _rules


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
    customer_id, merged = resolve_identities(
        session, keys, explicit=explicit, graph=batch.graph, audits=batch.audits
    )
    if merged:
        session.expire_all()  # the merge changed rows behind the batch's back; re-read them
    profile = batch.profile(customer_id, created=customer_id in batch.graph.created)
    before: dict[str, Any] = profile.computed  # replaced, not mutated, by apply_to_profile
    # Consent changes that come from events are not audited one by one: the stored event is
    # the record and the profile is a fold of the events. Direct opt-outs are audited.
    apply_to_profile(profile, event)
    fired = on_event(
        session, rules, event, customer_id, before, profile.computed, now, batch.jobs, batch.audits
    )
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
    events are never taken again. 0 means nothing was pending.
    """
    now = as_utc(now) if now else utcnow()
    rules = rules if rules is not None else default_rules()
    try:
        return _with_retries(lambda: _process_batch(engine, limit, now, rules))
    except BatchFailed as failed:
        log.warning("a processing batch failed on its data; redoing it event by event: %r", failed)
        return _one_by_one(engine, failed.event_ids, now, rules)


def _one_by_one(engine: Engine, event_ids: list[int], now: datetime, rules: TriggerSet) -> int:
    """Each event in a transaction of its own; one that fails alone twice is quarantined."""
    done = 0
    for event_id in event_ids:
        for attempt in itertools.count(1):
            try:
                done += _with_retries(partial(_process_batch, engine, 1, now, rules, event_id))
                break
            except BatchFailed as failed:
                if attempt >= _ALONE_ATTEMPTS:
                    done += _quarantine(engine, event_id, failed.cause)
                    break
    return done


def _quarantine(engine: Engine, event_id: int, cause: BaseException) -> int:
    """Mark the event processed without a customer, and say why in the audit log."""
    with session_scope(engine) as session:
        event = session.get(Event, event_id)
        taken = session.execute(
            update(Event)
            .where(col(Event.id) == event_id, col(Event.processed_at).is_(None))
            .values(processed_at=utcnow())
        )
        if event is None or taken.rowcount != 1:  # type: ignore[attr-defined]
            return 0
        error = repr(cause)[:500]
        audit.append(
            session,
            actor="system:cdp",
            kind="event.quarantined",
            subject_type="event",
            subject_id=str(event_id),
            payload={"message_id": event.message_id, "type": event.type, "error": error},
        )
    log.error("event %s (%s) quarantined: %s", event_id, event.message_id, error)
    return 1


def _with_retries(work: Callable[[], int]) -> int:
    """Run a batch again when it lost a race on identities or was a deadlock victim."""
    for attempt in itertools.count(1):
        try:
            return work()
        except IdentitiesMoved:
            if attempt >= _ATTEMPTS:
                raise
            log.debug("identities moved under a processing batch; starting it again")
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != _DEADLOCK or attempt >= _ATTEMPTS:
                raise
            log.info("processing batch was a deadlock victim; starting it again")
    raise AssertionError("unreachable")


def _process_batch(
    engine: Engine, limit: int, now: datetime, rules: TriggerSet, event_id: int | None = None
) -> int:
    """One batch in one transaction: up to `limit` pending events, or just `event_id`."""
    with session_scope(engine) as session, session.no_autoflush:
        events = (
            claim_events(session, limit) if event_id is None else claim_event(session, event_id)
        )
        if not events:
            return 0
        try:
            batch = Batch.load(session, events, rules)
            for event in events:
                process_event(session, event, rules, now, batch)
            batch.finish()
            session.flush()
        except _NOT_THE_DATA:
            raise
        except Exception as exc:  # rolls the batch back (session_scope), then blamed on data
            raise BatchFailed([e.id for e in events], exc) from exc
        return len(events)


def run_scheduler(
    engine: Engine,
    *,
    now: datetime | None = None,
    rules: TriggerSet | None = None,
    limit: int = 1000,
    max_passes: int = 50,
) -> int:
    """Fire due delayed triggers and re-check time-dependent thresholds; returns firings made.

    Works in passes of `limit` jobs, one transaction each, until a pass finds fewer (at most
    `max_passes`; the worker calls again a second later). Safe to run from several processes
    and beside processing batches (run_due claims jobs and their customers atomically).
    """
    now = as_utc(now) if now else utcnow()
    rules = rules if rules is not None else default_rules()
    fired = 0
    for _ in range(max_passes):
        with session_scope(engine) as session:
            done = run_due(session, rules, now, limit=limit)
        fired += done.fired
        if done.claimed < limit:
            break
    return fired


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
