"""API keys: random bearer tokens of a role; only their sha256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session, select

from core import audit
from core.tables import ApiKey

__all__ = ["CreatedKey", "Role", "create_key", "find_key", "hash_key"]


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
    existing = find_key(session, plaintext)
    if existing is not None:
        return CreatedKey(existing.id, Role(existing.role), plaintext)
    row = ApiKey(key_hash=hash_key(plaintext), prefix=plaintext[:12], role=role.value, name=name)
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
