"""A background loop that expires overdue reviews, so an unanswered review means "do nothing".

Wire it into `create_app(services=[ReviewExpiry(engine)])` (cli/serve.py); every `interval`
seconds it runs `review.expire_overdue` in its own transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.engine import Engine

from core.clock import utcnow
from core.db import session_scope
from guardrails.review import expire_overdue

__all__ = ["ReviewExpiry"]

log = logging.getLogger("cjo.guardrails")


class ReviewExpiry:
    """Expires pending reviews past their SLA; one sweep per `interval` seconds."""

    name = "review-expiry"

    def __init__(self, engine: Engine, *, interval: float = 30.0) -> None:
        self.engine = engine
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def sweep(self) -> int:
        with session_scope(self.engine) as session:
            return len(expire_overdue(session, utcnow()))

    async def _loop(self) -> None:
        while True:
            try:
                expired = await asyncio.to_thread(self.sweep)
                if expired:
                    log.info("reviews expired", extra={"fields": {"count": expired}})
            except Exception:  # keep sweeping; the next round retries
                log.exception("review expiry sweep failed")
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
