"""One customer's history in time order: events, trigger firings, decisions, outbox messages."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from core.clock import as_utc
from core.tables import Decision, Event, OutboxMessage, TriggerFiring

__all__ = ["timeline"]


def timeline(session: Session, customer_id: str, *, limit: int = 200) -> list[dict[str, Any]]:
    """The newest `limit` entries across kinds, newest first (customer_id must be canonical)."""
    items: list[dict[str, Any]] = []
    for e in session.exec(
        select(Event)
        .where(Event.customer_id == customer_id)
        .order_by(col(Event.timestamp).desc())
        .limit(limit)
    ):
        items.append(
            {
                "kind": "event",
                "at": as_utc(e.timestamp).isoformat(),
                "type": e.type,
                "event": e.event,
                "message_id": e.message_id,
                "properties": e.properties,
                "traits": e.traits,
            }
        )
    for f in session.exec(
        select(TriggerFiring)
        .where(TriggerFiring.customer_id == customer_id)
        .order_by(col(TriggerFiring.fired_at).desc())
        .limit(limit)
    ):
        items.append(
            {
                "kind": "trigger",
                "at": as_utc(f.fired_at).isoformat(),
                "trigger": f.trigger,
                "journey": f.journey_slug,
                "data": f.data,
            }
        )
    for d in session.exec(
        select(Decision)
        .where(Decision.customer_id == customer_id)
        .order_by(col(Decision.created_at).desc())
        .limit(limit)
    ):
        items.append(
            {
                "kind": "decision",
                "at": as_utc(d.created_at).isoformat(),
                "id": d.id,
                "action_id": d.action_id,
                "channel": d.channel,
                "journey": d.journey_slug,
            }
        )
    for o in session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.customer_id == customer_id)
        .order_by(col(OutboxMessage.created_at).desc())
        .limit(limit)
    ):
        items.append(
            {
                "kind": "action",
                "at": as_utc(o.created_at).isoformat(),
                "id": o.id,
                "channel": o.channel,
                "status": o.status,
                "action_id": o.action_id,
            }
        )
    items.sort(key=lambda item: item["at"], reverse=True)
    return items[:limit]
