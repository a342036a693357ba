"""Tables owned by the channel tools: what the embedded providers received, audiences, CSM tasks.

Every table that records a delivery is unique on the idempotency key (or the Message-ID derived
from it), so a provider that sees the same message twice stores it once: this is what makes a
crash between "provider accepted" and "outbox row marked sent" harmless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.tables import new_id

__all__ = ["AudienceMember", "CapturedEmail", "CsmTask", "SandboxMessage"]


def _json(**kw: Any) -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False), **kw)


class CapturedEmail(SQLModel, table=True):
    """One email received by the embedded SMTP capture server, parsed for display.

    `message_id` is unique: the dispatcher derives it from the outbox key, so a re-sent
    message is recognised and stored once (`deliveries` counts how often it arrived).
    """

    __tablename__ = "captured_emails"
    id: str = Field(default_factory=new_id, primary_key=True)
    message_id: str = Field(max_length=300, unique=True, index=True)
    idempotency_key: str | None = Field(default=None, max_length=128, index=True)
    mail_from: str = Field(default="", max_length=320)
    rcpt_to: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str = Field(default="", max_length=998)
    to: str = Field(default="", max_length=998)
    headers: dict[str, Any] = _json()
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    html: str = Field(default="", sa_column=Column(Text, nullable=False))
    raw: str = Field(default="", sa_column=Column(Text, nullable=False))
    deliveries: int = 1
    received_at: datetime = Field(default_factory=utcnow, index=True)


class SandboxMessage(SQLModel, table=True):
    """What an SMS or push provider would have received (the default sandbox provider).

    Stores the exact request the HTTP adapter would make (url, headers, body), unique per
    (provider, idempotency key) like a real provider's idempotency window.
    """

    __tablename__ = "sandbox_messages"
    __table_args__ = (UniqueConstraint("provider", "idempotency_key", name="uq_sandbox_key"),)
    id: str = Field(default_factory=new_id, primary_key=True)
    provider: str = Field(max_length=32, index=True)
    channel: str = Field(max_length=32, index=True)
    idempotency_key: str = Field(max_length=128)
    customer_id: str | None = Field(default=None, max_length=200, index=True)
    recipient: str = Field(default="", max_length=500)
    request: dict[str, Any] = _json()
    deliveries: int = 1
    received_at: datetime = Field(default_factory=utcnow, index=True)


class AudienceMember(SQLModel, table=True):
    """A customer's membership of a named ad audience, with hashed identifiers for export."""

    __tablename__ = "audience_members"
    __table_args__ = (UniqueConstraint("audience", "customer_id", name="uq_audience_customer"),)
    id: int | None = Field(default=None, primary_key=True)
    audience: str = Field(max_length=100, index=True)
    customer_id: str = Field(max_length=200, index=True)
    email_sha256: str | None = Field(default=None, max_length=64)
    phone_sha256: str | None = Field(default=None, max_length=64)
    active: bool = True
    updated_at: datetime = Field(default_factory=utcnow)
    last_key: str | None = Field(default=None, max_length=128)


class CsmTask(SQLModel, table=True):
    """A task for a customer-success or contact-center agent: what to say and why."""

    __tablename__ = "csm_tasks"
    id: str = Field(default_factory=new_id, primary_key=True)
    idempotency_key: str = Field(max_length=128, unique=True)
    customer_id: str | None = Field(default=None, max_length=200, index=True)
    journey_slug: str | None = Field(default=None, max_length=100)
    script: str = Field(default="", sa_column=Column(Text, nullable=False))
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    priority: str = Field(default="normal", max_length=16)
    context: dict[str, Any] = _json()
    status: str = Field(default="open", max_length=16, index=True)
    crm_status: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, index=True)
