"""NATS JetStream transport for scale-out: producers publish, `cjo worker` processes consume.

Subjects are `<prefix>.<partition>` with the partition derived from the customer key
(userId, else anonymousId), so one customer's messages share a subject and keep their order in
the stream. Workers share one durable pull consumer. Each fetched batch is validated, accepted
into the `events` table (dedup by messageId, durable) and committed, and only then acked:
at-least-once delivery plus idempotent accept = each event processed once. A worker killed
before its ack leaves the messages to be redelivered to another worker after `ack_wait`.
The stream keeps messages for RETENTION_S (7 days) and drops a repeated Nats-Msg-Id within
DUPLICATE_WINDOW_S; a message no worker can ever read is moved, with the reason in its headers,
to the dead-letter stream (`<stream>_DEAD`) and acked, rather than retried or silently lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import nats
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from cdp.events import MESSAGE_ADAPTER
from cdp.importer import Message, validation_reason
from cdp.ingest import accept
from cdp.pipeline import process_pending, run_scheduler
from cdp.triggers import TriggerSet
from core.clock import utcnow
from core.db import session_scope

__all__ = [
    "DEAD_LETTER_RETENTION_S",
    "DUPLICATE_WINDOW_S",
    "PARTITIONS",
    "RETENTION_S",
    "JetStreamWorker",
    "StreamNames",
    "ensure_stream",
    "publish",
    "stream_payload",
]

log = logging.getLogger("cjo.cdp.stream")
PARTITIONS = 16
# Messages are kept as long as Segment asks a dedup window to be (7 days): long enough for any
# worker outage to be caught up on, short enough that the stream does not grow forever.
RETENTION_S = 7 * 24 * 3600.0
# Within this window the server drops a re-published message with the same Nats-Msg-Id (the
# messageId): publisher retries and a re-run import cost nothing. Past it, the database's
# unique messageId still dedups; the window only bounds the server's memory of ids.
DUPLICATE_WINDOW_S = 10 * 60.0
DEAD_LETTER_RETENTION_S = 30 * 24 * 3600.0


class StreamNames:
    """Stream, subject prefix and consumer names; CJO_STREAM_NAME overrides (tests use it).

    Dead letters (messages no worker can read) go to `<prefix>_dead` in the stream
    `<stream>_DEAD`, outside the workers' `<prefix>.>` subjects.
    """

    def __init__(self, name: str | None = None) -> None:
        self.stream = name or os.environ.get("CJO_STREAM_NAME", "CJO_EVENTS")
        self.prefix = f"cjo.{self.stream.lower()}"
        self.consumer = f"{self.stream.lower()}-workers"
        self.dead_stream = f"{self.stream}_DEAD"
        self.dead_subject = f"{self.prefix}_dead"

    def subject(self, message: dict[str, Any]) -> str:
        key = str(message.get("userId") or message.get("anonymousId") or "")
        return f"{self.prefix}.{zlib.crc32(key.encode()) % PARTITIONS}"


async def _ensure(js: Any, config: StreamConfig) -> None:
    try:
        info = await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        return
    current = info.config
    if (current.max_age, current.duplicate_window) != (config.max_age, config.duplicate_window):
        # A stream made before retention was set (or with other limits) is brought in line.
        await js.update_stream(
            replace(current, max_age=config.max_age, duplicate_window=config.duplicate_window)
        )


async def ensure_stream(js: Any, names: StreamNames) -> None:
    """Create (or bring up to date) the event stream and its dead-letter stream."""
    await _ensure(
        js,
        StreamConfig(
            name=names.stream,
            subjects=[f"{names.prefix}.>"],
            max_age=RETENTION_S,
            duplicate_window=DUPLICATE_WINDOW_S,
        ),
    )
    await _ensure(
        js,
        StreamConfig(
            name=names.dead_stream,
            subjects=[names.dead_subject],
            max_age=DEAD_LETTER_RETENTION_S,
            duplicate_window=DUPLICATE_WINDOW_S,
        ),
    )


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
    """Publish Segment messages to JetStream (awaiting each ack); returns how many.

    `messages` is consumed as it is published (500 in flight at most), so it can be a file
    being read. The messageId goes in the Nats-Msg-Id header: the server drops a repeat
    within DUPLICATE_WINDOW_S (and still counts it as published).
    """
    names = names or StreamNames()
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await ensure_stream(js, names)
        count = 0
        pending: list[Any] = []
        for message in messages:
            message_id = message.get("messageId")
            headers = {"Nats-Msg-Id": str(message_id)} if message_id else None
            data = json.dumps(message).encode()
            pending.append(js.publish(names.subject(message), data, headers=headers))
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
        self.dead_lettered = 0
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

    def _accept(self, payloads: list[bytes]) -> tuple[int, dict[int, str]]:
        """Accept the readable messages (one transaction); returns how many were new and, by
        position, why each unreadable one can never be accepted."""
        messages = []
        dead: dict[int, str] = {}
        for index, raw in enumerate(payloads):
            try:
                messages.append(MESSAGE_ADAPTER.validate_json(raw))
            except ValidationError as exc:  # cannot ever succeed: dead-letter it, do not retry
                dead[index] = validation_reason(exc)[:500]
        with session_scope(self.engine) as session:
            return sum(accept(session, messages)), dead

    async def _dead_letter(self, js: Any, msg: Any, reason: str) -> None:
        """Keep an unreadable message, with why, on the dead-letter subject (then it is acked)."""
        log.warning("unreadable message on %s dead-lettered: %s", msg.subject, reason)
        headers = {
            "Cjo-Dead-Reason": reason,
            "Cjo-Original-Subject": msg.subject,
            "Cjo-Dead-At": utcnow().isoformat(),
        }
        await js.publish(self.names.dead_subject, msg.data, headers=headers)
        self.dead_lettered += 1

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
                    fresh, dead = await asyncio.to_thread(self._accept, [m.data for m in msgs])
                    self.accepted += fresh
                    for index, reason in dead.items():
                        await self._dead_letter(js, msgs[index], reason)
                    await asyncio.gather(*(m.ack() for m in msgs))
                try:
                    n = await asyncio.to_thread(
                        process_pending, self.engine, limit=2000, rules=self.rules
                    )
                    self.processed += n
                    await asyncio.to_thread(run_scheduler, self.engine, rules=self.rules)
                except Exception:  # the batch rolled back; its events stay pending for later
                    log.exception("cdp stream worker: processing failed")
                    n = 0
                    await asyncio.sleep(1.0)
                if not msgs and n == 0:
                    idle += 0.5
                    if exit_after_idle_s is not None and idle >= exit_after_idle_s:
                        return
        finally:
            await nc.close()
