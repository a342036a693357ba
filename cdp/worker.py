"""The in-process worker: keeps processing accepted events and runs the due-time scheduler.

It is the default transport (CJO_STREAM_URL unset): the `events` table is the durable queue,
`processed_at IS NULL` is the backlog. Being a BackgroundService (api.app), `cjo serve` runs it
beside the API; `cjo worker` runs the same loop alone (or the JetStream consumer, stream.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from sqlalchemy.engine import Engine

from cdp.pipeline import default_rules, process_pending, run_scheduler
from cdp.triggers import TriggerSet
from core.settings import Settings

__all__ = ["InProcessWorker"]

log = logging.getLogger("cjo.cdp.worker")


class InProcessWorker:
    """Poll-and-process loop; `idle_s` is how long it sleeps when there is nothing to do."""

    name = "cdp-worker"

    def __init__(
        self,
        engine: Engine,
        settings: Settings | None = None,
        *,
        rules: TriggerSet | None = None,
        batch: int = 1000,
        idle_s: float = 0.02,
        schedule_every_s: float = 1.0,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.rules = rules
        self.batch = batch
        self.idle_s = idle_s
        self.schedule_every_s = schedule_every_s
        self.processed = 0
        self.fired = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def step(self, now: datetime | None = None) -> int:
        """One batch of processing (blocking); returns events processed."""
        n = process_pending(self.engine, limit=self.batch, now=now, rules=self.rules)
        self.processed += n
        return n

    def schedule(self, now: datetime | None = None) -> int:
        """One scheduler pass (blocking): fire the due delayed triggers; returns firings made.

        Safe beside other processes doing the same: due jobs are claimed atomically.
        """
        fired = run_scheduler(self.engine, now=now, rules=self.rules)
        self.fired += fired
        return fired

    async def run(self, *, exit_after_idle_s: float | None = None) -> None:
        """Process and run the scheduler (every `schedule_every_s`) until stopped, or until
        nothing happened for `exit_after_idle_s` (`cjo worker --exit-after-idle`)."""
        self.rules = self.rules or default_rules()
        loop = asyncio.get_running_loop()
        next_schedule = 0.0
        idle = 0.0
        while not self._stopping.is_set():
            try:
                busy = await asyncio.to_thread(self.step)
                if loop.time() >= next_schedule:
                    busy += await asyncio.to_thread(self.schedule)
                    next_schedule = loop.time() + self.schedule_every_s
            except Exception:  # keep the loop alive; the batch rolled back and will be retried
                log.exception("cdp worker batch failed")
                busy = 0
                await asyncio.sleep(1.0)
            if busy:
                idle = 0.0
                continue
            started = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.idle_s)
            idle += loop.time() - started
            if exit_after_idle_s is not None and idle >= exit_after_idle_s:
                return
