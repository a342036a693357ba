"""Several dispatchers on one outbox: each message is claimed by one of them, sent once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from core.db import session_scope
from core.tables import OutboxMessage
from tests.integration.test_dispatch_failures import FlakyProvider
from tests.tools.factories import make_registry
from tools.channels.sms import TwilioStyleSms
from tools.dispatcher import Dispatcher, DispatchStats
from tools.outbox import enqueue, idempotency_key

MESSAGES = 300


def test_concurrent_dispatchers_never_send_a_message_twice(engine: Engine, tmp_path: Path) -> None:
    with session_scope(engine) as session:
        for i in range(MESSAGES):
            enqueue(
                session,
                channel="sms",
                key=idempotency_key("concurrency", str(i)),
                payload={"to": f"+1415556{i:03d}0", "text": "hi"},
            )
    with FlakyProvider(failure_rate=0.0) as provider:

        def worker(_: int) -> DispatchStats:
            registry = make_registry(engine, tmp_path)
            registry.adapters["sms"] = TwilioStyleSms(
                provider.url, account_sid="AC1", auth_token="t", from_number="+15005550006"
            )
            return Dispatcher(engine, registry).run_until_idle(limit=20)

        with ThreadPoolExecutor(max_workers=3) as pool:
            results = list(pool.map(worker, range(3)))
    assert sum(r.sent for r in results) == MESSAGES
    assert provider.outcomes["replayed"] == 0  # no message was claimed by two dispatchers
    assert len(provider.delivered) == MESSAGES
    with Session(engine) as session:
        sent = session.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")
        ).one()
    assert sent == MESSAGES
