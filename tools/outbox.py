"""The outbox: every side effect is a row with a deterministic, unique idempotency key.

Callers (journey nodes, reviewers' approvals) `enqueue` inside their own transaction, so the
message exists if and only if the step that decided it committed. The dispatcher delivers rows
later, passing the same key to the provider; re-running a step re-derives the same key and
finds the row already there instead of sending twice.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from core import audit
from core.clock import as_utc, utcnow
from core.tables import OutboxMessage, new_id
from tools.insert_once import insert_if_absent

__all__ = ["OUTBOX_STATUSES", "enqueue", "idempotency_key"]

# pending -> sending -> sent | failed (retry at next_attempt_at) | dead (reason in last_error);
# held while a kill switch or a send-time check holds it (re-checked at next_attempt_at).
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "held", "dead")

_SEPARATOR = "\x1f"  # unit separator: ("ab", "c") and ("a", "bc") must not collide


def idempotency_key(*parts: str) -> str:
    """sha256 hex of the parts, joined unambiguously.

    Example:
        >>> idempotency_key("cust-1", "winback", "step-1", "email")[:12]
        '2ef7a1a23131'
    """
    joined = _SEPARATOR.join(str(part) for part in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def enqueue(
    session: Session,
    *,
    channel: str,
    key: str,
    payload: dict[str, Any],
    customer_id: str | None = None,
    journey_slug: str | None = None,
    run_id: str | None = None,
    decision_id: str | None = None,
    action_id: str | None = None,
    not_before: datetime | None = None,
) -> tuple[OutboxMessage, bool]:
    """Add a message unless one with `key` exists; returns (row, created).

    Runs in the caller's transaction (nothing is committed here) and is safe when two
    processes enqueue the same key at once: the insert is `ON CONFLICT DO NOTHING` on the
    unique key, and the loser reads the winner's row. Audited as `outbox.enqueued` when created.

    Args:
        channel: email, sms, push, webhook, audience or csm (`web` is never dispatched).
        key: from `idempotency_key(...)` over what the message *is* (customer, journey, step,
            action, content hash), never over time or a random id.
        payload: the channel's payload (see docs/channels.md).
        not_before: do not send before this time (send-time optimisation, waits).
    """
    if not key or len(key) > 128:
        raise ValueError("key: must be 1-128 characters (use tools.outbox.idempotency_key)")
    if channel == "web":
        raise ValueError("channel: 'web' content is served by GET /v1/decide, not dispatched")
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id(),
        "idempotency_key": key,
        "channel": channel,
        "customer_id": customer_id,
        "journey_slug": journey_slug,
        "run_id": run_id,
        "decision_id": decision_id,
        "action_id": action_id,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": as_utc(not_before) if not_before else now,
        "created_at": now,
    }
    created = insert_if_absent(session, OutboxMessage, values, ["idempotency_key"])
    row = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).one()
    if created:
        audit.append(
            session,
            actor="system:outbox",
            kind="outbox.enqueued",
            subject_type="outbox",
            subject_id=row.id,
            customer_id=customer_id,
            journey_id=journey_slug,
            payload={
                "channel": channel,
                "key": key,
                "action_id": action_id,
                "decision_id": decision_id,
                "run_id": run_id,
                "payload_digest": audit.digest(payload),
                "not_before": values["next_attempt_at"].isoformat(),
            },
        )
    return row, created
