"""The embedded SMTP capture server (aiosmtpd): a real SMTP endpoint that stores, never relays.

Used when CJO_SMTP_URL is unset, so the demo sends real SMTP conversations and marketers can
read every email in `GET /v1/outbox/emails`. It dedupes by Message-ID (which the email channel
derives from the outbox key): a message that arrives twice is stored once, `deliveries` += 1.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import update
from sqlalchemy.engine import Engine

from core.db import session_scope
from core.tables import new_id
from tools.insert_once import insert_if_absent
from tools.tables import CapturedEmail

__all__ = ["CaptureServer", "parse_email", "store_email"]


def parse_email(raw: bytes) -> dict[str, Any]:
    """Subject, To, headers, text and HTML bodies of a raw RFC 5322 message."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    message_id = str(msg.get("Message-ID") or "").strip()
    if not message_id:
        message_id = f"<sha256-{hashlib.sha256(raw).hexdigest()}@capture>"
    return {
        "message_id": message_id,
        "idempotency_key": str(msg.get("X-Cjo-Idempotency-Key") or "").strip() or None,
        "subject": str(msg.get("Subject") or "").strip(),
        "to": str(msg.get("To") or "").strip(),
        # long headers arrive folded; unfold so readers see the value as it was set
        "headers": {name: " ".join(str(value).split()) for name, value in msg.items()},
        "text": text_part.get_content() if text_part is not None else "",
        "html": html_part.get_content() if html_part is not None else "",
    }


def store_email(engine: Engine, raw: bytes, mail_from: str, rcpt_to: list[str]) -> bool:
    """Store one received message; False when its Message-ID was already stored."""
    parsed = parse_email(raw)
    values = {
        "id": new_id(),
        "mail_from": mail_from,
        "rcpt_to": rcpt_to,
        "raw": raw.decode("utf-8", errors="replace"),
        "deliveries": 1,
        **parsed,
    }
    with session_scope(engine) as session:
        created = insert_if_absent(session, CapturedEmail, values, ["message_id"])
        if not created:
            session.execute(
                update(CapturedEmail)
                .where(CapturedEmail.message_id == parsed["message_id"])
                .values(deliveries=CapturedEmail.deliveries + 1)
            )
    return created


class _StoringHandler:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        rcpts = [str(r) for r in envelope.rcpt_tos]
        await asyncio.to_thread(store_email, self.engine, raw, str(envelope.mail_from), rcpts)
        return "250 Message accepted for delivery"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class CaptureServer:
    """An SMTP server on `host:port` (port 0: any free port) storing mail in `captured_emails`.

    `start()`/`stop()` are synchronous (aiosmtpd runs its own loop in a thread); the async
    `astart()`/`astop()` make it a BackgroundService for `create_app(services=[...])`.
    """

    name = "smtp-capture"

    def __init__(self, engine: Engine, host: str = "127.0.0.1", port: int = 2525) -> None:
        self.engine = engine
        self.host = host
        self.port = port or _free_port(host)
        self._controller: Controller | None = None

    def start(self) -> None:
        if self._controller is not None:
            return
        controller = Controller(_StoringHandler(self.engine), hostname=self.host, port=self.port)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)
