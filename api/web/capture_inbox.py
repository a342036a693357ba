"""Read the SMTP capture inbox that tools/ keeps (the embedded mail server's received emails).

tools/ owns the table; the console finds it by name in `tools.tables` (any table whose name
mentions "captur") and reads common column names, so it needs no import-time dependency.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel, select

__all__ = ["CapturedMail", "SandboxDelivery", "capture_table", "recent_mail", "sandbox_deliveries"]

_FIELDS = {
    "sender": ("mail_from", "sender", "from_addr", "from_address", "envelope_from"),
    "recipients": ("rcpt_to", "recipients", "to", "to_addr", "envelope_to", "rcpt_tos"),
    "subject": ("subject",),
    "at": ("received_at", "captured_at", "created_at", "ts"),
    "html": ("html", "body_html", "html_body"),
    "text": ("text", "body_text", "text_body", "body"),
    "raw": ("raw", "data", "message", "content"),
}


@dataclass(frozen=True)
class CapturedMail:
    sender: str
    recipients: str
    subject: str
    at: datetime | None
    html: str
    text: str


@dataclass(frozen=True)
class SandboxDelivery:
    """What a sandboxed SMS/push provider received (tools/ keeps the request it was sent)."""

    provider: str
    recipient: str
    at: datetime | None
    request: dict[str, Any]


def _tools_table(fragment: str) -> type[SQLModel] | None:
    try:
        module = importlib.import_module("tools.tables")
    except ImportError:
        return None
    for value in vars(module).values():
        name = getattr(value, "__tablename__", None)
        if isinstance(value, type) and isinstance(name, str) and fragment in name:
            return value
    return None


def capture_table() -> type[SQLModel] | None:
    return _tools_table("captur")


def sandbox_deliveries(
    session: Session, channel: str, limit: int = 50
) -> list[SandboxDelivery] | None:
    """Newest sandbox deliveries on `channel`, or None when this build has no sandbox table."""
    table = _tools_table("sandbox")
    if table is None or not hasattr(table, "channel"):
        return None
    query = select(table).where(table.channel == channel)
    if hasattr(table, "received_at"):
        query = query.order_by(table.received_at.desc())
    out = []
    for obj in session.exec(query.limit(limit)).all():
        row = obj.model_dump()
        out.append(
            SandboxDelivery(
                provider=str(row.get("provider", "")),
                recipient=str(row.get("recipient", "")),
                at=row.get("received_at"),
                request=row.get("request") or {},
            )
        )
    return out


def _pick(row: dict[str, Any], field: str) -> Any:
    for key in _FIELDS[field]:
        if row.get(key) not in (None, ""):
            return row[key]
    return None


def _subject_from_raw(raw: str) -> str:
    import email

    message = email.message_from_string(raw)
    return str(message.get("Subject", ""))


def recent_mail(session: Session, limit: int = 50) -> list[CapturedMail] | None:
    """Newest captured emails, or None when this build has no capture table."""
    table = capture_table()
    if table is None:
        return None
    order = next((getattr(table, k) for k in _FIELDS["at"] if hasattr(table, k)), None)
    query = select(table)
    if order is not None:
        query = query.order_by(order.desc())
    out = []
    for obj in session.exec(query.limit(limit)).all():
        row = obj.model_dump()
        recipients = _pick(row, "recipients") or ""
        raw = _pick(row, "raw")
        subject = _pick(row, "subject") or (_subject_from_raw(raw) if isinstance(raw, str) else "")
        out.append(
            CapturedMail(
                sender=str(_pick(row, "sender") or ""),
                recipients=", ".join(recipients)
                if isinstance(recipients, list)
                else str(recipients),
                subject=str(subject),
                at=_pick(row, "at"),
                html=str(_pick(row, "html") or ""),
                text=str(_pick(row, "text") or (raw if isinstance(raw, str) else "")),
            )
        )
    return out
