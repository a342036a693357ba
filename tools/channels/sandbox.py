"""The default SMS/push provider: stores the exact request an HTTP adapter would have made.

Like a real provider's idempotency window, it keeps one record per (provider, key): a replayed
request returns the first record's id and only counts the extra delivery.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from core.db import session_scope
from core.tables import new_id
from tools.insert_once import insert_if_absent
from tools.tables import SandboxMessage

__all__ = ["SandboxProvider"]


class SandboxProvider:
    """Accepts requests into `sandbox_messages`, deduplicated by idempotency key."""

    def __init__(self, engine: Engine, provider: str) -> None:
        self.engine = engine
        self.provider = provider

    def accept(
        self,
        *,
        key: str,
        channel: str,
        recipient: str,
        request: dict[str, Any],
        customer_id: str | None = None,
    ) -> tuple[str, bool]:
        """Record the request; returns (record id, created)."""
        values = {
            "id": new_id(),
            "provider": self.provider,
            "channel": channel,
            "idempotency_key": key,
            "customer_id": customer_id,
            "recipient": recipient,
            "request": request,
            "deliveries": 1,
        }
        with session_scope(self.engine) as session:
            created = insert_if_absent(
                session, SandboxMessage, values, ["provider", "idempotency_key"]
            )
            mine = (col(SandboxMessage.provider) == self.provider) & (
                col(SandboxMessage.idempotency_key) == key
            )
            if not created:
                session.execute(
                    update(SandboxMessage)
                    .where(mine)
                    .values(deliveries=SandboxMessage.deliveries + 1)
                )
            row_id = session.exec(select(SandboxMessage.id).where(mine)).one()
        return row_id, created
