"""Failure injection: 2,000 SMS through a real HTTP provider that fails ~30% of requests.

The provider (a Twilio-style API on 127.0.0.1) answers 429 with Retry-After, 500, 503, or
accepts the message and then answers too late for the client (a timeout after acceptance: the
case where only the idempotency key prevents a duplicate). About 1% of messages carry a
number the provider rejects with 400. Expected: every message ends `sent` or `dead` with a
reason, and no key is delivered twice. Backoff waits are skipped by moving the dispatcher's
clock forward, so the test stays fast without changing what is decided.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.clock import utcnow
from core.db import session_scope
from core.tables import OutboxMessage
from tests.tools.factories import make_registry
from tools.channels.sms import TwilioStyleSms
from tools.dispatcher import Dispatcher, RetryPolicy
from tools.outbox import enqueue, idempotency_key

SENDS = int(os.environ.get("CJO_FAILURE_SENDS", "2000"))
CLIENT_TIMEOUT_S = 0.05
REJECTED_SUFFIX = "99"  # numbers ending in 99 are refused permanently (400)


class FlakyProvider:
    """A Twilio-style SMS API that dedupes on Idempotency-Key and fails ~30% of requests."""

    def __init__(self, failure_rate: float = 0.30, seed: int = 42) -> None:
        self.failure_rate = failure_rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.delivered: dict[str, str] = {}  # key -> sid, one entry per delivered message
        self.deliveries: Counter[str] = Counter()  # how often each key was *delivered*
        self.outcomes: Counter[str] = Counter()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def _fault(self) -> str | None:
        with self.lock:
            roll = self.rng.random()
        if roll >= self.failure_rate:
            return None
        share = roll / self.failure_rate
        return "429" if share < 0.35 else "500" if share < 0.6 else "503" if share < 0.8 else "late"

    def _accept(self, key: str, form: dict[str, str]) -> tuple[str, bool]:
        with self.lock:
            if key in self.delivered:
                self.outcomes["replayed"] += 1
                return self.delivered[key], False
            sid = f"SM{len(self.delivered):06d}"
            self.delivered[key] = sid
            self.deliveries[key] += 1
            return sid, True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                key = self.headers.get("Idempotency-Key", "")
                fault = provider._fault()
                with provider.lock:
                    provider.outcomes[fault or "ok"] += 1
                if fault == "429":
                    return self._reply(429, {"message": "Too Many Requests"}, {"Retry-After": "1"})
                if fault in {"500", "503"}:
                    return self._reply(int(fault or 500), {"message": "provider trouble"})
                if form.get("To", "").endswith(REJECTED_SUFFIX):
                    return self._reply(400, {"code": 21211, "message": "invalid 'To' number"})
                sid, _ = provider._accept(key, form)
                if fault == "late":  # accepted, but the answer comes after the client gave up
                    time.sleep(CLIENT_TIMEOUT_S * 3)
                self._reply(201, {"sid": sid, "status": "queued"})

            def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out first

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> FlakyProvider:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class SteppingClock:
    """Real time plus an offset that the test moves on when nothing is due yet."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def skip(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def provider() -> Iterator[FlakyProvider]:
    with FlakyProvider() as running:
        yield running


@pytest.mark.slow
def test_flaky_provider_gets_no_duplicates_and_nothing_is_lost(
    engine: Engine, tmp_path: Path, provider: FlakyProvider
) -> None:
    registry = make_registry(engine, tmp_path)
    sms = TwilioStyleSms(
        provider.url,
        account_sid="AC123",
        auth_token="token",
        from_number="+15005550006",
        timeout=CLIENT_TIMEOUT_S,
    )
    registry.adapters["sms"] = sms
    with session_scope(engine) as session:
        for i in range(SENDS):
            enqueue(
                session,
                channel="sms",
                key=idempotency_key("failure-test", str(i)),
                payload={"to": f"+1415555{i:04d}", "text": f"message {i}"},
                customer_id=f"c{i}",
            )
    clock = SteppingClock()
    policy = RetryPolicy(max_attempts=8, base_s=0.2, cap_s=5.0, lease_s=30.0)
    dispatcher = Dispatcher(engine, registry, clock=clock, policy=policy)

    started = time.perf_counter()
    attempts = 0
    for _ in range(1000):
        stats = dispatcher.run_once(limit=200)
        attempts += stats.sent + stats.retried + stats.dead
        if stats.claimed:
            continue
        with Session(engine) as session:
            open_rows = session.exec(
                select(OutboxMessage.next_attempt_at).where(
                    OutboxMessage.status.in_(("pending", "failed", "sending"))  # type: ignore[attr-defined]
                )
            ).all()
        if not open_rows:
            break
        clock.skip(max(0.0, (min(open_rows) - clock()).total_seconds()) + 0.001)
    elapsed = time.perf_counter() - started

    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage)).all()
    by_status = Counter(row.status for row in rows)
    sent = {row.idempotency_key: row for row in rows if row.status == "sent"}
    dead = {row.idempotency_key: row for row in rows if row.status == "dead"}

    # every message is sent or dead-lettered, dead ones with a reason
    assert by_status.keys() <= {"sent", "dead"}, by_status
    assert len(sent) + len(dead) == SENDS
    assert all(row.last_error for row in dead.values())
    rejected = {k for k, r in dead.items() if r.payload["to"].endswith(REJECTED_SUFFIX)}
    assert rejected and all("HTTP 400" in (dead[k].last_error or "") for k in rejected)
    # 0 duplicates at the provider, and every `sent` row was really delivered, with its sid
    assert max(provider.deliveries.values()) == 1
    assert all(provider.delivered[k] == row.provider_message_id for k, row in sent.items())
    gave_up = {k for k, r in dead.items() if "gave up" in (r.last_error or "")}
    assert set(provider.delivered) - set(sent) <= gave_up
    # the dangerous paths were exercised: failures of every kind, and replays after timeouts
    for kind in ("429", "500", "503", "late", "replayed"):
        assert provider.outcomes[kind] > 0, kind
    figures = {
        "sends": SENDS,
        "requests": sum(v for k, v in provider.outcomes.items() if k != "replayed"),
        "failed_requests": sum(provider.outcomes[k] for k in ("429", "500", "503", "late")),
        "replays_deduplicated": provider.outcomes["replayed"],
        "duplicates": sum(1 for n in provider.deliveries.values() if n > 1),
        "sent": len(sent),
        "dead": len(dead),
        "dead_gave_up": len(gave_up),
        "attempts": attempts,
        "elapsed_s": round(elapsed, 1),
        "dialect": engine.dialect.name,
    }
    print("failure-injection", json.dumps(figures, sort_keys=True))
