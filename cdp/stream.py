"""NATS JetStream transport for scale-out: producers publish, `cjo worker` processes consume.

Subjects are `<prefix>.<partition>` with the partition derived from the customer key
(userId, else anonymousId), so one customer's messages share a subject and keep their order in
the stream. Workers share one durable pull consumer. Each fetched batch is validated, accepted
into the `events` table (dedup by messageId, durable) and committed, and only then acked:
at-least-once delivery plus idempotent accept = each event processed once. A worker killed
before its ack leaves the messages to be redelivered to another worker after `ack_wait`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
import zlib
from collections.abc import Iterable
from typing import Any

import nats
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from cdp.events import MESSAGE_ADAPTER
from cdp.importer import Message
from cdp.ingest import accept
from cdp.pipeline import process_pending, run_scheduler
from cdp.triggers import TriggerSet
from core.db import session_scope

__all__ = [
    "PARTITIONS",
    "JetStreamWorker",
    "StreamNames",
    "ensure_stream",
    "publish",
    "stream_payload",
]

log = logging.getLogger("cjo.cdp.stream")
PARTITIONS = 16


class StreamNames:
    """Stream, subject prefix and consumer names; CJO_STREAM_NAME overrides (tests use it)."""

    def __init__(self, name: str | None = None) -> None:
        self.stream = name or os.environ.get("CJO_STREAM_NAME", "CJO_EVENTS")
        self.prefix = f"cjo.{self.stream.lower()}"
        self.consumer = f"{self.stream.lower()}-workers"

    def subject(self, message: dict[str, Any]) -> str:
        key = str(message.get("userId") or message.get("anonymousId") or "")
        return f"{self.prefix}.{zlib.crc32(key.encode()) % PARTITIONS}"


async def ensure_stream(js: Any, names: StreamNames) -> None:
    try:
        await js.stream_info(names.stream)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=names.stream, subjects=[f"{names.prefix}.>"]))


def stream_payload(message: Message) -> dict[str, Any]:
    """The JSON a validated message travels as (what `MESSAGE_ADAPTER` reads back).

    A message without messageId gets one here, before it is published, so that a redelivered
    or re-published copy is still recognised as the same message.
    """
    if message.message_id is None:
        message.message_id = f"gen-{uuid.uuid4().hex}"
    return message.model_dump(mode="json", by_alias=True, exclude_none=True)


async def publish(
    url: str, messages: Iterable[dict[str, Any]], names: StreamNames | None = None
) -> int:
    """Publish Segment messages to JetStream (awaiting each ack); returns how many."""
    names = names or StreamNames()
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await ensure_stream(js, names)
        count = 0
        pending: list[Any] = []
        for message in messages:
            pending.append(js.publish(names.subject(message), json.dumps(message).encode()))
            count += 1
            if len(pending) >= 500:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return count
    finally:
        await nc.close()


class JetStreamWorker:
    """Consume the stream, accept durably, ack, then process. A BackgroundService too."""

    name = "cdp-jetstream-worker"

    def __init__(
        self,
        engine: Engine,
        url: str,
        *,
        names: StreamNames | None = None,
        rules: TriggerSet | None = None,
        batch: int = 500,
        ack_wait_s: float = 5.0,
    ) -> None:
        self.engine = engine
        self.url = url
        self.names = names or StreamNames()
        self.rules = rules
        self.batch = batch
        self.ack_wait_s = ack_wait_s
        self.received = 0
        self.accepted = 0
        self.processed = 0
        self.idle_rounds = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    def _accept(self, payloads: list[bytes]) -> int:
        messages = []
        for raw in payloads:
            try:
                messages.append(MESSAGE_ADAPTER.validate_json(raw))
            except ValidationError as exc:  # cannot ever succeed: drop it loudly, do not retry
                log.error("invalid message on the stream dropped: %s", exc.errors()[:3])
        with session_scope(self.engine) as session:
            return sum(accept(session, messages))

    async def run(self, *, exit_after_idle_s: float | None = None) -> None:
        nc = await nats.connect(self.url)
        try:
            js = nc.jetstream()
            await ensure_stream(js, self.names)
            sub = await js.pull_subscribe(
                f"{self.names.prefix}.>",
                durable=self.names.consumer,
                stream=self.names.stream,
                config=ConsumerConfig(ack_wait=self.ack_wait_s, max_ack_pending=20_000),
            )
            idle = 0.0
            while not self._stop.is_set():
                try:
                    msgs = await sub.fetch(self.batch, timeout=0.5)
                except (TimeoutError, nats.errors.TimeoutError):
                    msgs = []
                if msgs:
                    idle = 0.0
                    self.received += len(msgs)
                    self.accepted += await asyncio.to_thread(self._accept, [m.data for m in msgs])
                    await asyncio.gather(*(m.ack() for m in msgs))
                n = await asyncio.to_thread(
                    process_pending, self.engine, limit=2000, rules=self.rules
                )
                self.processed += n
                await asyncio.to_thread(run_scheduler, self.engine, rules=self.rules)
                if not msgs and n == 0:
                    idle += 0.5
                    if exit_after_idle_s is not None and idle >= exit_after_idle_s:
                        return
        finally:
            await nc.close()
