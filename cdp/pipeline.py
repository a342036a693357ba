"""Processing: accepted events -> identity resolution -> profile + computed traits -> triggers.

Each batch is one transaction: an event's profile change, trigger firings and its
`processed_at` mark commit together, so an event is processed exactly once even when several
processors run or one dies mid-batch (its transaction rolls back and the events stay pending).
On PostgreSQL batches run in parallel: each takes partitions of the routing keys and locks the
customers it touches (cdp/partitions.py), so one customer is worked on by one batch at a time
and one routing key's events keep their arrival order; the profile folds do not depend on order
anyway (docs/cdp.md). On SQLite batches are serial (one writer).
"""

from __future__ import annotations

import itertools
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from cdp.batch import Batch
from cdp.identity import Key, identities_of, resolve_identities
from cdp.partitions import IdentitiesMoved, claim_events
from cdp.profiles import apply_to_profile
from cdp.triggers import TriggerSet, load_rules, on_event, run_due
from core.clock import as_utc, utcnow
from core.db import session_scope

__all__ = ["default_rules", "drain", "process_event", "process_pending", "run_scheduler"]

log = logging.getLogger("cjo.cdp.pipeline")
_rules: TriggerSet | None = None
# A batch that finds its identities moved (or is picked as a deadlock victim) starts again at
# once; this many times in a row is not contention any more but something to report.
_ATTEMPTS = 20
_DEADLOCK = "40P01"


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
    for attempt in itertools.count(1):
        try:
            return _process_batch(engine, limit, now, rules)
        except IdentitiesMoved:
            if attempt >= _ATTEMPTS:
                raise
            log.debug("identities moved under a processing batch; starting it again")
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != _DEADLOCK or attempt >= _ATTEMPTS:
                raise
            log.info("processing batch was a deadlock victim; starting it again")
    raise AssertionError("unreachable")


def _process_batch(engine: Engine, limit: int, now: datetime, rules: TriggerSet) -> int:
    with session_scope(engine) as session, session.no_autoflush:
        events = claim_events(session, limit)
        if not events:
            return 0
        batch = Batch.load(session, events, rules)
        for event in events:
            process_event(session, event, rules, now, batch)
        batch.finish()
        session.flush()
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
