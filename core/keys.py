"""API keys: random bearer tokens of a role; only their sha256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, or_, select

from core import audit
from core.clock import utcnow
from core.tables import ApiKey

__all__ = [
    "CreatedKey",
    "KeyLookupError",
    "Role",
    "create_key",
    "find_key",
    "hash_key",
    "list_keys",
    "revoke_key",
]

PREFIX_LEN = 12  # characters of a key kept in clear to recognise it
# A shorter prefix would match nearly every key of a role (`cjo_mar_`).
MIN_PREFIX = 10


class KeyLookupError(ValueError):
    """The key named to revoke is unknown, ambiguous, or a revoked key was offered again."""


class Role(StrEnum):
    admin = "admin"
    marketer = "marketer"
    reviewer = "reviewer"
    service = "service"


@dataclass(frozen=True)
class CreatedKey:
    id: str
    role: Role
    key: str  # shown once; not stored


def hash_key(key: str) -> str:
    # Keys carry 192 bits of randomness, so a plain sha256 is enough (no slow KDF needed).
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    session: Session, *, role: Role, name: str = "", actor: str = "cli", key: str | None = None
) -> CreatedKey:
    """Create a key of `role`, audit it, and return the plaintext once."""
    plaintext = key or f"cjo_{role.value[:3]}_{secrets.token_urlsafe(24)}"
    existing = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(plaintext))).first()
    if existing is not None:
        if existing.revoked_at is not None:
            raise KeyLookupError(
                f"key {existing.prefix}... (id {existing.id}) was revoked; choose another key"
            )
        return CreatedKey(existing.id, Role(existing.role), plaintext)
    row = ApiKey(
        key_hash=hash_key(plaintext), prefix=plaintext[:PREFIX_LEN], role=role.value, name=name
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor,
        kind="api_key.created",
        subject_type="api_key",
        subject_id=row.id,
        payload={"role": role.value, "name": name, "prefix": row.prefix},
    )
    return CreatedKey(row.id, role, plaintext)


def find_key(session: Session, plaintext: str) -> ApiKey | None:
    """The active key row for a presented bearer token, if any."""
    row = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(plaintext))).first()
    if row is None or row.revoked_at is not None:
        return None
    return row


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first, revoked ones included (rows carry no secret, only a hash)."""
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.id))))


def revoke_key(session: Session, id_or_prefix: str, *, actor: str = "cli") -> tuple[ApiKey, bool]:
    """Revoke the key whose id, prefix (at least MIN_PREFIX characters) or plaintext is given.

    Returns the key and whether this call revoked it: revoking an already revoked key changes
    nothing and audits nothing. API processes notice
    within their key cache's lifetime (`CJO_KEY_CACHE_SECONDS`).

    Raises:
        KeyLookupError: nothing matches, or the prefix matches more than one key.
    """
    needle = id_or_prefix.strip()
    if not needle:
        raise KeyLookupError("name the key to revoke by its id or prefix (cjo keys list)")
    conditions: list[Any] = [ApiKey.id == needle, ApiKey.key_hash == hash_key(needle)]
    if MIN_PREFIX <= len(needle) <= PREFIX_LEN:  # longer: only a whole key or an id matches
        conditions.append(col(ApiKey.prefix).startswith(needle))
    rows = list(session.exec(select(ApiKey).where(or_(*conditions))))
    shown = needle if len(needle) <= PREFIX_LEN else needle[:PREFIX_LEN] + "..."  # no secrets
    if not rows:
        hint = (
            f" (prefixes need at least {MIN_PREFIX} characters)" if len(needle) < MIN_PREFIX else ""
        )
        raise KeyLookupError(f"no API key has the id or prefix {shown!r}{hint}")
    if len(rows) > 1:
        names = ", ".join(f"{r.id} ({r.prefix}...)" for r in rows)
        raise KeyLookupError(f"{shown!r} matches {len(rows)} keys: {names}; give the key id")
    row = rows[0]
    if row.revoked_at is not None:
        return row, False
    row.revoked_at = utcnow()
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor,
        kind="api_key.revoked",
        subject_type="api_key",
        subject_id=row.id,
        payload={"role": row.role, "name": row.name, "prefix": row.prefix},
    )
    return row, True
