"""`cjo worker`: the scale-out event processor (JetStream when CJO_STREAM_URL is set).

Either way it processes accepted events and runs the due-time scheduler; several `cjo worker`
processes on one database are safe (processing batches and scheduler claims are atomic).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from cli.common import console, open_engine
from core.settings import get_settings


def run_worker(exit_after_idle_s: float | None) -> None:
    settings = get_settings()
    engine = open_engine(settings)

    async def main() -> None:
        if settings.stream_url:
            from cdp.stream import JetStreamWorker

            worker = JetStreamWorker(engine, settings.stream_url)
            console.print(f"cjo worker: consuming {worker.names.stream} at {settings.stream_url}")
            task = asyncio.create_task(worker.run(exit_after_idle_s=exit_after_idle_s))
        else:
            from cdp.worker import InProcessWorker

            inproc = InProcessWorker(engine, settings, idle_s=0.2)
            console.print("cjo worker: processing the database queue (in-process transport)")
            task = asyncio.create_task(inproc.run(exit_after_idle_s=exit_after_idle_s))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    engine.dispose()
