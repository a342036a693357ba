"""`cjo worker`: the scale-out event processor (JetStream when CJO_STREAM_URL is set)."""

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

            inproc = InProcessWorker(engine, settings)
            console.print("cjo worker: processing the database queue (in-process transport)")
            task = asyncio.create_task(_inprocess(inproc, exit_after_idle_s))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    engine.dispose()


async def _inprocess(worker: object, exit_after_idle_s: float | None) -> None:
    from cdp.worker import InProcessWorker

    assert isinstance(worker, InProcessWorker)
    idle = 0.0
    while True:
        n = await asyncio.to_thread(worker.step)
        if n:
            idle = 0.0
            continue
        await asyncio.sleep(0.2)
        idle += 0.2
        if exit_after_idle_s is not None and idle >= exit_after_idle_s:
            return
