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

from sqlalchemy import update
from sqlmodel import Session, col, select

from core import audit
from core.clock import as_utc, utcnow
from core.tables import OutboxMessage, new_id
from tools.insert_once import insert_if_absent

__all__ = ["OUTBOX_STATUSES", "enqueue", "idempotency_key", "update_if_claimed"]

# pending -> sending -> sent | failed (retry at next_attempt_at) | dead (reason in last_error);
# held while a kill switch or a send-time check holds it (re-checked at next_attempt_at).
# While `sending`, next_attempt_at is the claim's lease *and* its token: see update_if_claimed.
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


def update_if_claimed(session: Session, message_id: str, token: datetime, **values: Any) -> bool:
    """Set `values` on the message only if it is still `sending` under the claim `token`.

    A claim writes `next_attempt_at = now + lease` and keeps that value as its token. Claiming
    needs `next_attempt_at <= now`, so any later claim (after the lease ran out) writes a
    strictly later value: the token is unique per claim without a column of its own. This
    compare-and-set is how a dispatcher checks it still owns a message right before the
    provider call (renewing the lease: `next_attempt_at=` a later lease, which becomes the
    token) and when it records the result; False means another dispatcher took it over.
    The UPDATE also locks the row for the rest of the caller's transaction.
    """
    done = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == message_id,
            col(OutboxMessage.status) == "sending",
            col(OutboxMessage.next_attempt_at) == token,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]
