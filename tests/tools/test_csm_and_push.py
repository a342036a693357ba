"""CSM tasks (listed for humans, mirrored to a CRM webhook once) and sandbox push."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.db import session_scope
from core.tables import OutboxMessage
from tests.tools.factories import add_message, make_registry
from tools.channels.base import Delivery
from tools.channels.webhook import verify
from tools.dispatcher import Dispatcher
from tools.tables import CsmTask, SandboxMessage

SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="


def test_csm_task_is_created_once_and_sent_to_the_crm_signed(
    engine: Engine, tmp_path: Path
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    class Crm(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    crm = ThreadingHTTPServer(("127.0.0.1", 0), Crm)
    threading.Thread(target=crm.serve_forever, daemon=True).start()
    try:
        registry = make_registry(
            engine,
            tmp_path,
            crm_webhook_url=f"http://127.0.0.1:{crm.server_port}/tasks",
            webhook_secret=SECRET,
        )
        row = add_message(
            engine,
            "csm",
            {"script": "Call Ann, offer 10%", "summary": "High-value, lapsed", "priority": "high"},
            "task",
            customer_id="c1",
            journey_slug="winback",
        )
        assert Dispatcher(engine, registry).run_until_idle().sent == 1
        csm = registry.get("csm")
        assert csm is not None  # a replay after a crash finds the task, sends nothing new
        csm.send(
            Delivery(message_id=row.id, key=row.idempotency_key, channel="csm", payload=row.payload)
        )
    finally:
        crm.shutdown()
    with Session(engine) as session:
        (task,) = session.exec(select(CsmTask)).all()
    assert (task.priority, task.status, task.crm_status) == ("high", "open", "sent")
    assert task.journey_slug == "winback" and task.script == "Call Ann, offer 10%"
    (headers, body), *_ = received
    assert len(received) == 1
    assert headers["webhook-id"] == row.idempotency_key and verify(SECRET, headers, body)


def test_push_to_a_customer_without_token_is_recorded_in_the_sandbox(
    engine: Engine, tmp_path: Path
) -> None:
    add_message(
        engine,
        "push",
        {"customer_id": "c9", "title": "Your cart", "body": "2 items", "url": "https://x.test"},
        "push",
        customer_id="c9",
    )
    Dispatcher(engine, make_registry(engine, tmp_path)).run_until_idle()
    with Session(engine) as session:
        (record,) = session.exec(select(SandboxMessage)).all()
        (row,) = session.exec(select(OutboxMessage)).all()
    message = record.request["json"]["message"]
    assert record.recipient == "customer:c9" and row.status == "sent"
    assert message["notification"] == {"title": "Your cart", "body": "2 items"}
    assert message["data"]["idempotency_key"] == row.idempotency_key
    assert message["webpush"]["fcm_options"]["link"] == "https://x.test"


async def test_background_dispatcher_delivers_and_resumes_after_a_pause(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    import asyncio

    from core.controls import set_paused
    from tools.dispatcher import RetryPolicy

    dispatcher = Dispatcher(
        sqlite_engine,
        make_registry(sqlite_engine, tmp_path),
        policy=RetryPolicy(poll_interval_s=0.05),
    )
    with session_scope(sqlite_engine) as session:
        set_paused(session, scope="channel", target="sms", paused=True, actor="test")
    add_message(sqlite_engine, "sms", {"to": "+14155550111", "text": "hi"}, "bg")

    def status() -> str:
        with Session(sqlite_engine) as session:
            return session.exec(select(OutboxMessage.status)).one()

    async def wait_for(wanted: str) -> str:
        for _ in range(200):
            if (current := status()) == wanted:
                return current
            await asyncio.sleep(0.05)
        return status()

    await dispatcher.start()
    try:
        assert await wait_for("held") == "held"
        with session_scope(sqlite_engine) as session:
            set_paused(session, scope="channel", target="sms", paused=False, actor="test")
        assert await wait_for("sent") == "sent"
    finally:
        await dispatcher.stop()
