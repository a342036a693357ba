"""Tamper-evident audit log: append-only entries linked in a sha256 hash chain.

Every component records what it did through `append`. Each entry's hash covers its own content
and the previous entry's hash, so editing, deleting, inserting or reordering rows breaks the chain
at a place `verify_chain` names. Appends to one chain are serialised (a Postgres advisory lock;
SQLite's single writer) and `(chain, seq)` is unique, so concurrent writers cannot fork it.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from core.clock import as_utc, utcnow
from core.tables import AuditEntry

__all__ = ["GENESIS_HASH", "ChainReport", "append", "canonical_json", "digest", "verify_chain"]

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, non-JSON types rendered as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def digest(value: Any) -> str:
    """sha256 hex of the canonical JSON form of `value` (strings are hashed as they are)."""
    data = value if isinstance(value, str) else canonical_json(value)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _entry_hash(entry: AuditEntry) -> str:
    body = {
        "chain": entry.chain,
        "seq": entry.seq,
        "ts": as_utc(entry.ts).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "kind": entry.kind,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "customer_id": entry.customer_id,
        "journey_id": entry.journey_id,
        "payload_digest": entry.payload_digest,
        "prev_hash": entry.prev_hash,
    }
    return digest(body)


def _lock_chain(session: Session, chain: str) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        key = zlib.crc32(f"cjo-audit:{chain}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    # SQLite: every transaction already holds the single write lock (BEGIN IMMEDIATE).


def append(
    session: Session,
    *,
    actor: str,
    kind: str,
    payload: dict[str, Any] | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    customer_id: str | None = None,
    journey_id: str | None = None,
    chain: str = "main",
    ts: datetime | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits with the caller's change).

    Args:
        actor: who acted: `key:<id>`, `agent:journey`, `system`, ...
        kind: what happened, dotted: `decision.made`, `review.approved`, `identity.merged`.
        payload: JSON-serialisable details; its digest is chained, the payload is kept.
    """
    _lock_chain(session, chain)
    last = session.exec(
        select(AuditEntry)
        .where(AuditEntry.chain == chain)
        .order_by(col(AuditEntry.seq).desc())
        .limit(1)
    ).first()
    clean_payload = json.loads(canonical_json(payload or {}))
    entry = AuditEntry(
        chain=chain,
        seq=(last.seq + 1) if last else 1,
        ts=as_utc(ts) if ts else utcnow(),
        actor=actor,
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        customer_id=customer_id,
        journey_id=journey_id,
        payload=clean_payload,
        payload_digest=digest(clean_payload),
        prev_hash=last.entry_hash if last else GENESIS_HASH,
        entry_hash="",
    )
    entry.entry_hash = _entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    """Outcome of verifying one chain; `first_bad_*` name the first entry that fails."""

    chain: str
    ok: bool
    entries: int
    first_bad_id: int | None = None
    first_bad_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "ok": self.ok,
            "entries": self.entries,
            "first_bad_id": self.first_bad_id,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


def _check(entries: Iterable[AuditEntry], chain: str) -> ChainReport:
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    for entry in entries:
        count += 1

        def bad(reason: str, e: AuditEntry = entry, n: int = count) -> ChainReport:
            return ChainReport(chain, False, n, e.id, e.seq, reason)

        if entry.seq != expected_seq:
            return bad(f"sequence gap or reorder: expected seq {expected_seq}, found {entry.seq}")
        if entry.prev_hash != prev_hash:
            return bad("prev_hash does not match the previous entry (deleted, inserted or moved)")
        if digest(entry.payload) != entry.payload_digest:
            return bad("payload does not match its digest (payload edited)")
        if _entry_hash(entry) != entry.entry_hash:
            return bad("entry hash does not match its content (entry edited)")
        prev_hash = entry.entry_hash
        expected_seq += 1
    return ChainReport(chain, True, count)


def verify_chain(session: Session, chain: str = "main", batch: int = 5000) -> ChainReport:
    """Walk the chain in `seq` order (then id, to expose duplicates) and check every link."""

    def stream() -> Iterable[AuditEntry]:
        after: tuple[int, int] = (0, 0)
        while True:
            rows = session.exec(
                select(AuditEntry)
                .where(AuditEntry.chain == chain)
                .where(
                    (col(AuditEntry.seq) > after[0])
                    | ((col(AuditEntry.seq) == after[0]) & (col(AuditEntry.id) > after[1]))
                )
                .order_by(col(AuditEntry.seq), col(AuditEntry.id))
                .limit(batch)
            ).all()
            if not rows:
                return
            yield from rows
            after = (rows[-1].seq, rows[-1].id or 0)

    return _check(stream(), chain)


def list_chains(session: Session) -> list[str]:
    return list(session.exec(select(AuditEntry.chain).distinct()).all())
