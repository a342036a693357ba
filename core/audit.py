"""Tamper-evident audit log: append-only entries linked in a sha256 hash chain.

Every component records what it did through `append`. Each entry's hash covers its own content
and the previous entry's hash, so editing, deleting, inserting or reordering rows breaks the chain
at a place `verify_chain` names. Appends to one chain are serialised (a Postgres advisory lock;
SQLite's single writer) and `(chain, seq)` is unique, so concurrent writers cannot fork it.

The chain alone cannot show that its newest entries were deleted, so every append also moves the
chain's head record (`audit_heads`: last seq and hash) in the same transaction, and seals it with
an HMAC whose key lives outside the database (`CJO_AUDIT_KEY`, else `data_dir/audit-key`). Whoever
can write the database but not read the key can neither truncate the chain nor re-hash a rewritten
one and move the head along without `verify_chain` noticing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text, update
from sqlmodel import Session, col, select

from core.clock import as_utc, utcnow
from core.secrets import persistent_secret
from core.settings import get_settings
from core.tables import AuditEntry, AuditHead

__all__ = [
    "GENESIS_HASH",
    "ChainReport",
    "append",
    "canonical_json",
    "digest",
    "head_seal",
    "verify_chain",
]

log = logging.getLogger("cjo.audit")

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


@lru_cache(maxsize=8)
def _key_from(explicit: str | None, data_dir: Path) -> bytes:
    if explicit:
        return explicit.encode("utf-8")
    return persistent_secret(data_dir / "audit-key", secrets.token_urlsafe(32)).encode("utf-8")


def seal_key() -> bytes:
    """The HMAC key of chain heads: `CJO_AUDIT_KEY`, else a random one kept in data_dir."""
    settings = get_settings()
    explicit = settings.audit_key.get_secret_value() if settings.audit_key else None
    return _key_from(explicit, settings.data_dir.resolve())


def head_seal(chain: str, seq: int, entry_hash: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 over a chain head; without the key nobody can compute it."""
    message = f"cjo-audit-head\x00{chain}\x00{seq}\x00{entry_hash}".encode()
    return hmac.new(key or seal_key(), message, hashlib.sha256).hexdigest()


_HEADS: Any = AuditHead.__table__  # type: ignore[attr-defined]


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
    head = session.execute(
        select(_HEADS.c.seq, _HEADS.c.entry_hash).where(_HEADS.c.chain == chain)
    ).first()
    if head is not None:
        last_seq, last_hash = int(head.seq), str(head.entry_hash)
    else:
        last_seq, last_hash = _last_entry(session, chain)
        if last_seq:  # a chain with entries always has a head: it was deleted
            log.warning(
                "audit chain head missing; continuing from the last entry",
                extra={"fields": {"chain": chain, "seq": last_seq}},
            )
    clean_payload = json.loads(canonical_json(payload or {}))
    entry = AuditEntry(
        chain=chain,
        seq=last_seq + 1,
        ts=as_utc(ts) if ts else utcnow(),
        actor=actor,
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        customer_id=customer_id,
        journey_id=journey_id,
        payload=clean_payload,
        payload_digest=digest(clean_payload),
        prev_hash=last_hash,
        entry_hash="",
    )
    entry.entry_hash = _entry_hash(entry)
    session.add(entry)
    session.flush()
    _move_head(session, chain, entry.seq, entry.entry_hash, create=head is None)
    return entry


def _last_entry(session: Session, chain: str) -> tuple[int, str]:
    last = session.exec(
        select(AuditEntry)
        .where(AuditEntry.chain == chain)
        .order_by(col(AuditEntry.seq).desc())
        .limit(1)
    ).first()
    return (last.seq, last.entry_hash) if last else (0, GENESIS_HASH)


def _move_head(session: Session, chain: str, seq: int, entry_hash: str, *, create: bool) -> None:
    values = {
        "seq": seq,
        "entry_hash": entry_hash,
        "seal": head_seal(chain, seq, entry_hash),
        "updated_at": utcnow(),
    }
    if create:
        session.execute(insert(_HEADS).values(chain=chain, **values))
    else:
        session.execute(update(_HEADS).where(_HEADS.c.chain == chain).values(**values))


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


@dataclass
class _Walk:
    """How far the walk got: the report so far and the last entry it checked."""

    report: ChainReport
    last_seq: int = 0
    last_id: int | None = None
    last_hash: str = GENESIS_HASH


def _check(entries: Iterable[AuditEntry], chain: str) -> _Walk:
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    last: AuditEntry | None = None
    for entry in entries:
        count += 1

        def bad(reason: str, e: AuditEntry = entry, n: int = count) -> _Walk:
            return _Walk(ChainReport(chain, False, n, e.id, e.seq, reason))

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
        last = entry
    if last is None:
        return _Walk(ChainReport(chain, True, 0))
    return _Walk(ChainReport(chain, True, count), last.seq, last.id, last.entry_hash)


def _check_head(session: Session, chain: str, walk: _Walk) -> ChainReport:
    """Compare the last entry with the sealed head: catches truncation and re-hashed rewrites."""
    report = walk.report
    head = session.get(AuditHead, chain)

    def bad(reason: str, seq: int | None, entry_id: int | None) -> ChainReport:
        return ChainReport(chain, False, report.entries, entry_id, seq, reason)

    if head is None:
        if walk.last_seq == 0:
            return report
        return bad(
            f"the chain head record is missing (last entry seq {walk.last_seq}); "
            "it was deleted, so missing newest entries cannot be ruled out",
            walk.last_seq,
            walk.last_id,
        )
    if not hmac.compare_digest(head.seal, head_seal(chain, head.seq, head.entry_hash)):
        return bad(
            f"the chain head (seq {head.seq}) is not sealed with this installation's audit key: "
            "it was rewritten without the key (entries re-hashed?), or this process uses "
            "another key (CJO_AUDIT_KEY / data_dir/audit-key)",
            head.seq,
            walk.last_id if walk.last_seq == head.seq else None,
        )
    if walk.last_seq < head.seq:
        return bad(
            f"entries after seq {walk.last_seq} are missing (head says seq {head.seq})",
            walk.last_seq + 1,
            None,
        )
    if walk.last_seq > head.seq:
        beyond = session.exec(
            select(AuditEntry.id)
            .where(AuditEntry.chain == chain, AuditEntry.seq == head.seq + 1)
            .order_by(col(AuditEntry.id))
        ).first()
        return bad(
            f"entry seq {head.seq + 1} lies beyond the chain head (head says seq {head.seq}): "
            "written outside cjo's append",
            head.seq + 1,
            beyond,
        )
    if walk.last_hash != head.entry_hash:
        return bad(
            f"the last entry (seq {walk.last_seq}) is not the one the chain head recorded "
            "(replaced)",
            walk.last_seq,
            walk.last_id,
        )
    return report


def verify_chain(session: Session, chain: str = "main", batch: int = 5000) -> ChainReport:
    """Walk the chain in `seq` order (then id, to expose duplicates), check every link, then
    check that the last entry is the sealed head (so deleting the newest entries shows)."""

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

    walk = _check(stream(), chain)
    if not walk.report.ok:
        return walk.report
    return _check_head(session, chain, walk)


def list_chains(session: Session) -> list[str]:
    """Every chain that has entries or a head (a chain emptied of entries still shows)."""
    names = set(session.exec(select(AuditEntry.chain).distinct()).all())
    names.update(session.exec(select(AuditHead.chain)).all())
    return sorted(names)
