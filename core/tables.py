"""SQLModel tables for what cjo keeps. Each domain package may add its own `tables.py`.

Conventions: timestamps are aware UTC (core.clock.utcnow); JSON columns hold plain
dicts/lists; ids that users see are strings (uuid4 hex or a slug), sequence-like ids are integers.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import utcnow

__all__ = [
    "ApiKey",
    "AuditEntry",
    "AuditHead",
    "Control",
    "Customer",
    "Decision",
    "Event",
    "Identity",
    "Journey",
    "JourneyRun",
    "OutboxMessage",
    "Profile",
    "Review",
    "TriggerFiring",
    "new_id",
]


def new_id() -> str:
    return uuid.uuid4().hex


def _json(**kw: Any) -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False), **kw)


def _json_list(**kw: Any) -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False), **kw)


class ApiKey(SQLModel, table=True):
    """An API key; only its sha256 is stored, the key itself is shown once at creation."""

    __tablename__ = "api_keys"
    id: str = Field(default_factory=new_id, primary_key=True)
    key_hash: str = Field(index=True, unique=True, max_length=64)
    prefix: str = Field(max_length=16, description="First characters, to recognise a key.")
    role: str = Field(max_length=16)
    name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class AuditEntry(SQLModel, table=True):
    """One append-only audit record, chained to the previous one by `prev_hash`."""

    __tablename__ = "audit_entries"
    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    chain: str = Field(default="main", max_length=64)
    seq: int
    ts: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=200)
    kind: str = Field(max_length=100, index=True)
    subject_type: str | None = Field(default=None, max_length=64)
    subject_id: str | None = Field(default=None, max_length=200, index=True)
    customer_id: str | None = Field(default=None, max_length=200, index=True)
    journey_id: str | None = Field(default=None, max_length=200, index=True)
    payload: dict[str, Any] = _json()
    payload_digest: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The newest entry of one audit chain, sealed with an HMAC keyed outside the database.

    Walking the entries cannot notice that the newest ones were deleted; comparing the last
    entry with this record can, and the seal stops a rewrite that re-hashes entries and moves
    the head along unless the writer also holds the audit key. Updated in the same transaction
    as every append.
    """

    __tablename__ = "audit_heads"
    chain: str = Field(primary_key=True, max_length=64)
    seq: int
    entry_hash: str = Field(max_length=64)
    seal: str = Field(max_length=64, description="HMAC-SHA256 of chain, seq and entry_hash.")
    updated_at: datetime = Field(default_factory=utcnow)


class Customer(SQLModel, table=True):
    """A canonical customer; merged customers point at the survivor through `merged_into`."""

    __tablename__ = "customers"
    id: str = Field(primary_key=True, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    merged_into: str | None = Field(default=None, max_length=200, index=True)


class Identity(SQLModel, table=True):
    """A known identifier (user_id, anonymous_id, email, phone) of one canonical customer."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_identity_kind_value"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    value: str = Field(max_length=320)
    customer_id: str = Field(max_length=200, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Event(SQLModel, table=True):
    """A received Segment-spec event; `message_id` is unique, which makes dedup durable."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_customer_ts", "customer_id", "timestamp"),)
    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=200, unique=True, index=True)
    type: str = Field(max_length=16)
    event: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, max_length=200)
    anonymous_id: str | None = Field(default=None, max_length=200)
    customer_id: str | None = Field(default=None, max_length=200)
    timestamp: datetime
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = Field(default=None, index=True)
    properties: dict[str, Any] = _json()
    traits: dict[str, Any] = _json()
    context: dict[str, Any] = _json()


class Profile(SQLModel, table=True):
    """The unified profile of one canonical customer: traits, consent, computed traits."""

    __tablename__ = "profiles"
    customer_id: str = Field(primary_key=True, max_length=200)
    traits: dict[str, Any] = _json()
    computed: dict[str, Any] = _json()
    consent: dict[str, Any] = _json()
    timezone: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=32)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = 0


class Journey(SQLModel, table=True):
    """A versioned journey definition (YAML); `status` is active, paused or proposed."""

    __tablename__ = "journeys"
    __table_args__ = (UniqueConstraint("slug", "version", name="uq_journey_slug_version"),)
    id: str = Field(default_factory=new_id, primary_key=True)
    slug: str = Field(max_length=100, index=True)
    version: int = 1
    name: str = Field(max_length=200)
    definition: str
    status: str = Field(default="active", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="system", max_length=200)


class JourneyRun(SQLModel, table=True):
    """One customer's run through one journey; `thread_id` names its graph checkpoint thread."""

    __tablename__ = "journey_runs"
    __table_args__ = (
        UniqueConstraint("journey_slug", "customer_id", "trigger_key", name="uq_run_trigger"),
    )
    id: str = Field(default_factory=new_id, primary_key=True)
    journey_slug: str = Field(max_length=100, index=True)
    journey_version: int = 1
    customer_id: str = Field(max_length=200, index=True)
    trigger_key: str = Field(max_length=300, description="What started it; makes starts unique.")
    thread_id: str = Field(max_length=300, unique=True)
    status: str = Field(default="running", max_length=16, index=True)
    step: str | None = Field(default=None, max_length=100)
    wake_at: datetime | None = Field(default=None, index=True)
    started_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    lease: str | None = Field(default=None, max_length=32)  # the runner holding it (its token)


class Decision(SQLModel, table=True):
    """A next-best-action decision with its full explanation (candidates, filters, scores)."""

    __tablename__ = "decisions"
    id: str = Field(default_factory=new_id, primary_key=True)
    customer_id: str = Field(max_length=200, index=True)
    journey_slug: str | None = Field(default=None, max_length=100)
    run_id: str | None = Field(default=None, max_length=64, index=True)
    trigger: str | None = Field(default=None, max_length=200)
    placement: str | None = Field(default=None, max_length=100)
    action_id: str | None = Field(default=None, max_length=100)
    channel: str | None = Field(default=None, max_length=32)
    policy_arm: str = Field(default="model", max_length=16)
    holdout: bool = False
    catalog_version: str = Field(default="", max_length=64)
    model_version: str = Field(default="", max_length=64)
    explanation: dict[str, Any] = _json()
    created_at: datetime = Field(default_factory=utcnow, index=True)


class OutboxMessage(SQLModel, table=True):
    """A side effect waiting to happen; unique `idempotency_key` makes retries harmless.

    Status: pending -> sending -> sent | failed (retry later) | dead (with reason); held while
    a control pauses it or a guardrail holds it.
    """

    __tablename__ = "outbox"
    id: str = Field(default_factory=new_id, primary_key=True)
    idempotency_key: str = Field(max_length=128, unique=True, index=True)
    channel: str = Field(max_length=32, index=True)
    customer_id: str | None = Field(default=None, max_length=200, index=True)
    journey_slug: str | None = Field(default=None, max_length=100)
    run_id: str | None = Field(default=None, max_length=64)
    decision_id: str | None = Field(default=None, max_length=64)
    action_id: str | None = Field(default=None, max_length=100)
    payload: dict[str, Any] = _json()
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    last_error: str | None = None
    provider_message_id: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class Review(SQLModel, table=True):
    """A flagged action waiting for a human; approval is bound to `content_hash`."""

    __tablename__ = "reviews"
    id: str = Field(default_factory=new_id, primary_key=True)
    customer_id: str = Field(max_length=200, index=True)
    journey_slug: str | None = Field(default=None, max_length=100)
    run_id: str | None = Field(default=None, max_length=64)
    thread_id: str | None = Field(default=None, max_length=300)
    decision_id: str | None = Field(default=None, max_length=64)
    channel: str = Field(max_length=32)
    action_id: str | None = Field(default=None, max_length=100)
    content: dict[str, Any] = _json()
    content_hash: str = Field(max_length=64)
    risk_score: float = 0.0
    reasons: list[Any] = _json_list()
    status: str = Field(default="pending", max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    edited_by: str | None = Field(default=None, max_length=200)
    resolved_by: str | None = Field(default=None, max_length=200)
    resolved_at: datetime | None = None
    resolution_note: str | None = None
    version: int = 0


class Control(SQLModel, table=True):
    """Kill-switch state: scope `all`, `channel` or `journey`, with a target name."""

    __tablename__ = "controls"
    __table_args__ = (UniqueConstraint("scope", "target", name="uq_control_scope_target"),)
    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=16)
    target: str = Field(default="*", max_length=100)
    paused: bool = False
    reason: str | None = None
    updated_by: str = Field(default="system", max_length=200)
    updated_at: datetime = Field(default_factory=utcnow)


class TriggerFiring(SQLModel, table=True):
    """A trigger that matched for a customer: the durable hand-off from cdp/ to agents/.

    `dedup_key` is unique, so a trigger fires once per (rule, customer, occasion) even when
    events are replayed or processed by two workers; agents/ starts one run per firing.
    """

    __tablename__ = "trigger_firings"
    id: str = Field(default_factory=new_id, primary_key=True)
    trigger: str = Field(max_length=100)
    journey_slug: str = Field(max_length=100)
    customer_id: str = Field(max_length=200, index=True)
    dedup_key: str = Field(max_length=300, unique=True)
    fired_at: datetime = Field(default_factory=utcnow)
    data: dict[str, Any] = _json()
    consumed_at: datetime | None = Field(default=None, index=True)
