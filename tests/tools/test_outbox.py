"""enqueue: insert-if-absent on the idempotency key, audited once, in the caller's transaction."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from core.db import session_scope
from core.tables import AuditEntry, OutboxMessage
from tools.outbox import enqueue, idempotency_key


def _count(engine: Engine, model: type, **where: str) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return session.exec(query).one()


def test_idempotency_key_is_deterministic_and_unambiguous() -> None:
    assert idempotency_key("a", "b") == idempotency_key("a", "b")
    assert idempotency_key("ab", "c") != idempotency_key("a", "bc")
    assert len(idempotency_key("x")) == 64


def test_same_key_enqueues_once_and_audits_once(engine: Engine) -> None:
    key = idempotency_key("cust-1", "winback", "email-1")
    with session_scope(engine) as session:
        first, created = enqueue(
            session, channel="email", key=key, payload={"to": "a@b.c"}, customer_id="cust-1"
        )
    with session_scope(engine) as session:
        second, created_again = enqueue(
            session, channel="email", key=key, payload={"to": "other@b.c"}, customer_id="cust-1"
        )
    assert created and not created_again
    assert second.id == first.id and second.payload == {"to": "a@b.c"}
    assert _count(engine, OutboxMessage) == 1
    assert _count(engine, AuditEntry, kind="outbox.enqueued") == 1


def test_enqueue_rolls_back_with_the_callers_transaction(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        enqueue(session, channel="sms", key=idempotency_key("k"), payload={})
        raise RuntimeError("the journey step failed after enqueueing")
    assert _count(engine, OutboxMessage) == 0
    assert _count(engine, AuditEntry) == 0


def test_concurrent_enqueues_of_one_key_create_one_row(engine: Engine) -> None:
    key = idempotency_key("race")

    def attempt(_: int) -> bool:
        with session_scope(engine) as session:
            return enqueue(session, channel="push", key=key, payload={"n": 1})[1]

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(attempt, range(12)))
    assert results.count(True) == 1
    assert _count(engine, OutboxMessage) == 1


def test_web_channel_and_bad_keys_are_refused(engine: Engine) -> None:
    with session_scope(engine) as session:
        with pytest.raises(ValueError, match="channel"):
            enqueue(session, channel="web", key="k", payload={})
        with pytest.raises(ValueError, match="key"):
            enqueue(session, channel="email", key="", payload={})
