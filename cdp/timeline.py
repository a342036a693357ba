"""One customer's history in time order: events, trigger firings, decisions, outbox messages."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from core.clock import as_utc
from core.tables import Decision, Event, OutboxMessage, TriggerFiring

__all__ = ["timeline"]


def _latest(session: Session, model: Any, at: Any, customer_id: str, limit: int) -> list[Any]:
    """The newest `limit` rows of one table for one customer."""
    query = select(model).where(model.customer_id == customer_id)
    return list(session.exec(query.order_by(col(at).desc()).limit(limit)))


def timeline(session: Session, customer_id: str, *, limit: int = 200) -> list[dict[str, Any]]:
    """The newest `limit` entries across kinds, newest first (customer_id must be canonical)."""
    items: list[dict[str, Any]] = [
        {
            "kind": "event",
            "at": as_utc(e.timestamp).isoformat(),
            "type": e.type,
            "event": e.event,
            "message_id": e.message_id,
            "properties": e.properties,
            "traits": e.traits,
        }
        for e in _latest(session, Event, Event.timestamp, customer_id, limit)
    ]
    items += [
        {
            "kind": "trigger",
            "at": as_utc(f.fired_at).isoformat(),
            "trigger": f.trigger,
            "journey": f.journey_slug,
            "data": f.data,
        }
        for f in _latest(session, TriggerFiring, TriggerFiring.fired_at, customer_id, limit)
    ]
    items += [
        {
            "kind": "decision",
            "at": as_utc(d.created_at).isoformat(),
            "id": d.id,
            "action_id": d.action_id,
            "channel": d.channel,
            "journey": d.journey_slug,
        }
        for d in _latest(session, Decision, Decision.created_at, customer_id, limit)
    ]
    items += [
        {
            "kind": "action",
            "at": as_utc(o.created_at).isoformat(),
            "id": o.id,
            "channel": o.channel,
            "status": o.status,
            "action_id": o.action_id,
        }
        for o in _latest(session, OutboxMessage, OutboxMessage.created_at, customer_id, limit)
    ]
    items.sort(key=lambda item: item["at"], reverse=True)
    return items[:limit]
