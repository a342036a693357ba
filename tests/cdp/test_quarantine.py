"""An event processing cannot get through is quarantined; the events behind it go on.

The API refuses such values at the door (tests/api/test_ingest.py); these rows are put in
the table directly, as an older release or a direct import might have.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cdp.pipeline import drain
from cdp.triggers import TriggerSet
from core.audit import verify_chain
from core.db import session_scope
from core.tables import AuditEntry, Event
from tests.cdp.factories import ingest, track

FAR_FUTURE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
SCHEDULE = TriggerSet.model_validate(
    {
        "triggers": [
            {
                "name": "no_purchase_90d",
                "journey": "winback",
                "kind": "after",
                "event": "Order Completed",
                "unless": ["Order Completed"],
                "after_minutes": 129600,
            }
        ]
    }
)


def _poison(engine: Engine) -> int:
    """An order dated in the year 9999: scheduling its follow-up overflows the calendar."""
    with session_scope(engine) as session:
        row = Event(
            message_id="poison-1",
            type="track",
            event="Order Completed",
            user_id="u-bad",
            timestamp=FAR_FUTURE,
            properties={"revenue": 10},
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def test_a_poison_event_is_quarantined_and_the_rest_are_processed(engine: Engine) -> None:
    ingest(engine, track("Order Completed", user="u1", revenue=5))
    poison_id = _poison(engine)
    ingest(engine, track("Order Completed", user="u2", revenue=7))

    assert drain(engine, rules=SCHEDULE) == 3
    assert drain(engine, rules=SCHEDULE) == 0  # nothing left to retry for ever

    with Session(engine) as session:
        events = session.exec(select(Event).order_by(col(Event.id))).all()
        quarantined = session.exec(
            select(AuditEntry).where(AuditEntry.kind == "event.quarantined")
        ).all()
    assert all(e.processed_at is not None for e in events)
    assert [e.customer_id is None for e in events] == [False, True, False]
    assert [q.subject_id for q in quarantined] == [str(poison_id)]
    assert quarantined[0].payload["message_id"] == "poison-1"
    assert "OverflowError" in quarantined[0].payload["error"]
    with Session(engine) as session:
        assert verify_chain(session).ok
