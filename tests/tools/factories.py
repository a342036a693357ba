"""Factories and the `registry` fixture for the channel tests (embedded defaults)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from core.db import session_scope
from core.settings import Settings
from core.tables import OutboxMessage
from tools.channels import ChannelConfig, ChannelRegistry, build_registry
from tools.outbox import enqueue, idempotency_key

FAST_RATES = {c: 100_000.0 for c in ("email", "sms", "push", "webhook", "audience", "csm")}


def make_registry(engine: Engine, tmp_path: Path, **config: Any) -> ChannelRegistry:
    settings = Settings(data_dir=tmp_path / "var", environment="test")
    values: dict[str, Any] = {"smtp_capture_port": 0, "rates": FAST_RATES, **config}
    return build_registry(settings, engine, ChannelConfig(**values))


@pytest.fixture(name="registry")
def running_registry(engine: Engine, tmp_path: Path) -> Iterator[ChannelRegistry]:
    """Embedded defaults with the SMTP capture server running (import it into a test module)."""
    reg = make_registry(engine, tmp_path)
    assert reg.capture is not None
    reg.capture.start()
    yield reg
    reg.capture.stop()


def add_message(
    engine: Engine, channel: str, payload: dict[str, Any], *parts: str, **kw: Any
) -> OutboxMessage:
    key = idempotency_key(channel, *parts) if parts else idempotency_key(channel, repr(payload))
    with session_scope(engine) as session:
        row, _ = enqueue(session, channel=channel, key=key, payload=payload, **kw)
    return row


def email_payload(to: str = "ann@example.com", **extra: Any) -> dict[str, Any]:
    return {
        "to": to,
        "subject": "We miss you",
        "preheader": "A little something inside",
        "text": "Hi Ann, come back. Unsubscribe: {{unsubscribe_url}}",
        "html": "<html><body><p>Hi Ann</p><a href='{{unsubscribe_url}}'>unsub</a></body></html>",
        **extra,
    }
