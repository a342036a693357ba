"""Real SMTP conversations: the embedded capture server and a relay named by CJO_SMTP_URL."""

from __future__ import annotations

import socket
from email import message_from_bytes
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.settings import Settings
from core.tables import OutboxMessage
from tests.tools.factories import FAST_RATES, add_message, email_payload, running_registry
from tools.channels import ChannelConfig, ChannelRegistry, build_registry
from tools.channels.base import Delivery
from tools.dispatcher import Dispatcher
from tools.tables import CapturedEmail

__all__ = ["running_registry"]  # the `registry` fixture


def test_dispatched_email_lands_parsed_in_the_capture_server(
    engine: Engine, registry: ChannelRegistry
) -> None:
    row = add_message(engine, "email", email_payload(), "c1", "winback", customer_id="c1")
    stats = Dispatcher(engine, registry).run_until_idle()
    assert stats.sent == 1
    with Session(engine) as session:
        (mail,) = session.exec(select(CapturedEmail)).all()
        sent = session.get(OutboxMessage, row.id)
    assert sent is not None and sent.status == "sent"
    assert mail.idempotency_key == row.idempotency_key
    assert mail.message_id == sent.provider_message_id
    assert mail.subject == "We miss you" and mail.to == "ann@example.com"
    assert mail.rcpt_to == ["ann@example.com"]
    assert "Hi Ann" in mail.text and "<p>Hi Ann</p>" in mail.html
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/u/" in mail.headers["List-Unsubscribe"]


def test_capture_server_stores_a_resent_message_once(
    engine: Engine, registry: ChannelRegistry
) -> None:
    email = registry.get("email")
    assert email is not None
    delivery = Delivery(message_id="m", key="f" * 64, channel="email", payload=email_payload())
    first = email.send(delivery)
    second = email.send(delivery)  # the crash-and-resend case: same key, same Message-ID
    assert first.provider_message_id == second.provider_message_id
    with Session(engine) as session:
        (mail,) = session.exec(select(CapturedEmail)).all()
    assert mail.deliveries == 2


class _Relay:
    """Stands in for a real SMTP relay: keeps what it receives in memory."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_smtp_url_sends_through_the_relay_not_the_capture_server(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    relay = _Relay()
    port = _free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = Settings(
            data_dir=tmp_path / "var", environment="test", smtp_url=f"smtp://127.0.0.1:{port}"
        )
        registry = build_registry(settings, sqlite_engine, ChannelConfig(rates=FAST_RATES))
        assert registry.capture is None
        add_message(sqlite_engine, "email", email_payload(to="bo@example.com"), "relay")
        stats = Dispatcher(sqlite_engine, registry).run_until_idle()
    finally:
        controller.stop()
    assert stats.sent == 1
    ((rcpts, msg),) = relay.messages
    assert rcpts == ["bo@example.com"]
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_refused_connection_is_retried_not_lost(sqlite_engine: Engine, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "var", environment="test", smtp_url=f"smtp://127.0.0.1:{_free_port()}"
    )
    registry = build_registry(settings, sqlite_engine, ChannelConfig(rates=FAST_RATES))
    row = add_message(sqlite_engine, "email", email_payload(), "down")
    stats = Dispatcher(sqlite_engine, registry).run_once()
    assert stats.retried == 1
    with Session(sqlite_engine) as session:
        failed = session.get(OutboxMessage, row.id)
    assert failed is not None and failed.status == "failed" and failed.attempts == 1
    assert failed.last_error is not None and "SMTP connection" in failed.last_error
