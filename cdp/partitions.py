"""Which events a processing batch takes, and the locks that let batches run in parallel.

On PostgreSQL, events are partitioned by their routing key (userId, else anonymousId; the
same crc32 mod 16 as the JetStream subjects). A batch holds the advisory locks of the
partitions it takes, so one routing key's events are processed by one batch at a time, in
arrival order. A customer can be reached through keys of several partitions (an anonymousId
and a userId), so a batch also locks the `customers` rows of every customer its events
resolve to, and, for identifiers nobody owns yet, one of 256 advisory "new identity" locks,
then re-reads the identities: if a merge or a new identity committed in between, the batch
starts again (nothing is done yet). Holding every customer it touches, a batch can fold,
merge and fire without anybody else changing those customers. Lock order is always
partitions (try-lock, or one blocking), customer rows (sorted), new-identity locks (sorted):
batches cannot deadlock among themselves; PostgreSQL's deadlock detector covers the rest
(the scheduler's job rows) and the batch is retried.

On SQLite every write transaction holds the database's single write lock (BEGIN IMMEDIATE),
so batches are serial and none of this is needed.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from cdp.identity import IdentityGraph, Key
from core.tables import Customer, Event, Identity

__all__ = [
    "PARTITIONS",
    "IdentitiesMoved",
    "claim_events",
    "lock_customers",
    "partition_of",
    "partitioned",
]

PARTITIONS = 16
_NEW_IDENTITY_LOCKS = 256
_NS_PARTITION = zlib.crc32(b"cjo-cdp-partition") & 0x7FFFFFFF
_NS_NEW_IDENTITY = zlib.crc32(b"cjo-cdp-new-identity") & 0x7FFFFFFF
_EVENTS: Any = Event.__table__  # type: ignore[attr-defined]
_CUSTOMERS: Any = Customer.__table__  # type: ignore[attr-defined]
_IDENTITIES: Any = Identity.__table__  # type: ignore[attr-defined]
# How far past `limit` a batch looks for events of partitions it can lock.
WINDOW_FACTOR = 4


class IdentitiesMoved(Exception):
    """Identities of the batch changed between reading them and locking their customers."""


def partition_of(user_id: str | None, anonymous_id: str | None) -> int:
    """The partition of a routing key (userId, else anonymousId), as JetStream subjects use."""
    key = str(user_id or anonymous_id or "")
    return zlib.crc32(key.encode()) % PARTITIONS


def partitioned(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _try_lock(session: Session, namespace: int, key: int) -> bool:
    result = session.execute(
        text("SELECT pg_try_advisory_xact_lock(:ns, :k)"), {"ns": namespace, "k": key}
    )
    return bool(result.scalar())


def _lock(session: Session, namespace: int, key: int) -> None:
    session.execute(text("SELECT pg_advisory_xact_lock(:ns, :k)"), {"ns": namespace, "k": key})


def claim_events(session: Session, limit: int) -> list[Any]:
    """Up to `limit` unprocessed events in arrival order that this batch may process.

    PostgreSQL: among the oldest `limit * WINDOW_FACTOR` pending events, the partitions whose
    lock is free are taken (oldest first) until they cover `limit` events; when all are
    busy, the batch waits for the oldest one rather than returning empty-handed (so "0"
    still means "nothing pending").
    """
    if not partitioned(session):
        return list(
            session.execute(
                _EVENTS.select()
                .where(_EVENTS.c.processed_at.is_(None))
                .order_by(_EVENTS.c.id)
                .limit(limit)
            )
        )
    window = session.execute(
        _EVENTS.select()
        .with_only_columns(_EVENTS.c.id, _EVENTS.c.user_id, _EVENTS.c.anonymous_id)
        .where(_EVENTS.c.processed_at.is_(None))
        .order_by(_EVENTS.c.id)
        .limit(limit * WINDOW_FACTOR)
    ).all()
    if not window:
        return []
    by_partition: dict[int, list[int]] = {}
    for row in window:
        by_partition.setdefault(partition_of(row.user_id, row.anonymous_id), []).append(row.id)
    taken: list[int] = []
    for partition, ids in by_partition.items():  # in order of each partition's oldest event
        if len(taken) >= limit:
            break
        if _try_lock(session, _NS_PARTITION, partition):
            taken += ids
    if not taken:
        oldest = next(iter(by_partition))
        _lock(session, _NS_PARTITION, oldest)
        taken = by_partition[oldest]
    chosen = sorted(taken)[:limit]
    # Read again now that the partitions are ours: a batch that held them before may have
    # processed some of these meanwhile.
    return list(
        session.execute(
            _EVENTS.select()
            .where(_EVENTS.c.id.in_(chosen), _EVENTS.c.processed_at.is_(None))
            .order_by(_EVENTS.c.id)
        )
    )


def claim_event(session: Session, event_id: int) -> list[Any]:
    """One pending event by id, as a batch of one (its partition locked on PostgreSQL)."""
    row = session.execute(
        _EVENTS.select().where(_EVENTS.c.id == event_id, _EVENTS.c.processed_at.is_(None))
    ).first()
    if row is None:
        return []
    if partitioned(session):
        _lock(session, _NS_PARTITION, partition_of(row.user_id, row.anonymous_id))
        row = session.execute(  # a batch that held the partition may have processed it
            _EVENTS.select().where(_EVENTS.c.id == event_id, _EVENTS.c.processed_at.is_(None))
        ).first()
    return [row] if row is not None else []


def _owners(session: Session, keys: set[Key]) -> dict[Key, str]:
    found: dict[Key, str] = {}
    values = sorted({v for _, v in keys})
    for start in range(0, len(values), 500):
        rows = session.execute(
            _IDENTITIES.select()
            .with_only_columns(_IDENTITIES.c.kind, _IDENTITIES.c.value, _IDENTITIES.c.customer_id)
            .where(_IDENTITIES.c.value.in_(values[start : start + 500]))
        )
        for kind, value, customer_id in rows:
            if (kind, value) in keys:
                found[(kind, value)] = customer_id
    return found


def lock_customers(session: Session, graph: IdentityGraph, keys: Iterable[Key]) -> None:
    """Lock every customer `keys` resolve to, and the new-identity locks of unowned keys.

    `graph` has the keys preloaded. Raises IdentitiesMoved when, once locked, the
    identities no longer say what the graph read (the caller rolls back and starts again).
    """
    if not partitioned(session):
        return
    wanted = set(keys)
    owners = sorted({c for k in wanted if (c := graph.owners.get(k)) is not None})
    for start in range(0, len(owners), 500):
        session.execute(
            _CUSTOMERS.select()
            .with_only_columns(_CUSTOMERS.c.id)
            .where(_CUSTOMERS.c.id.in_(owners[start : start + 500]))
            .order_by(_CUSTOMERS.c.id)
            .with_for_update()
        ).all()
    unowned = {k for k in wanted if graph.owners.get(k) is None}
    buckets = sorted({zlib.crc32(f"{k}:{v}".encode()) % _NEW_IDENTITY_LOCKS for k, v in unowned})
    for bucket in buckets:
        _lock(session, _NS_NEW_IDENTITY, bucket)
    now = _owners(session, wanted)
    if any(now.get(k) != graph.owners.get(k) for k in wanted):
        raise IdentitiesMoved
