"""Several dispatchers on one outbox: each message is claimed by one of them, sent once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from core.db import session_scope
from core.tables import OutboxMessage
from tests.integration.test_dispatch_failures import FlakyProvider
from tests.tools.factories import make_registry
from tools.channels.base import Delivery, SendResult
from tools.channels.sms import TwilioStyleSms
from tools.dispatcher import Dispatcher, DispatchStats, RetryPolicy
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


class SlowNonDedupingSms:
    """A provider that takes `delay_s` per request and counts every request per key (no dedupe,
    like a plain SMTP relay): a message handed over twice is counted twice."""

    name = "sms"

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.started = threading.Event()

    def send(self, delivery: Delivery) -> SendResult:
        self.started.set()
        time.sleep(self.delay_s)
        with self.lock:
            self.requests[delivery.key] += 1
        return SendResult(provider_message_id=delivery.key[:12])


def _open(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
        ).one()


def test_batch_longer_than_the_lease_is_still_sent_once_per_message(
    engine: Engine, tmp_path: Path
) -> None:
    """One dispatcher claims a batch it needs ~2.4 s to send with a 1 s lease; a second one
    polls the whole time and reclaims whatever it finds expired. Counted at the provider."""
    messages = 60
    with session_scope(engine) as session:
        for i in range(messages):
            enqueue(
                session,
                channel="sms",
                key=idempotency_key("slow-provider", str(i)),
                payload={"to": f"+1415557{i:04d}", "text": "hi"},
            )
    provider = SlowNonDedupingSms(delay_s=0.04)
    policy = RetryPolicy(lease_s=1.0, poll_interval_s=0.01)

    def dispatcher() -> Dispatcher:
        registry = make_registry(engine, tmp_path)
        registry.adapters["sms"] = provider
        return Dispatcher(engine, registry, policy=policy)

    def batch_sender() -> DispatchStats:
        return dispatcher().run_until_idle(limit=messages)

    def poller() -> DispatchStats:
        provider.started.wait(timeout=30)
        total, poller_dispatcher = DispatchStats(), dispatcher()
        deadline = time.monotonic() + 60
        while _open(engine) and time.monotonic() < deadline:
            total.add(poller_dispatcher.run_once(limit=5))
            time.sleep(policy.poll_interval_s)
        return total

    with ThreadPoolExecutor(max_workers=2) as pool:
        batch, polled = pool.submit(batch_sender), pool.submit(poller)
        stats = [batch.result(), polled.result()]
    assert len(provider.requests) == messages
    assert max(provider.requests.values()) == 1  # no message reached the provider twice
    assert _open(engine) == 0
    assert sum(s.sent for s in stats) == messages
    assert stats[1].sent > 0 and stats[0].lost > 0  # the takeover did happen
