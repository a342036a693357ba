"""JetStream transport against the local NATS server (127.0.0.1:4222) with `cjo worker` processes.

Done-when: 10,000 messages with duplicated messageIds across 2 workers are processed once;
killing a worker mid-stream and starting another loses no event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from cdp.profiles import get_profile_view
from cdp.stream import DUPLICATE_WINDOW_S, RETENTION_S, JetStreamWorker, StreamNames, publish
from cdp.triggers import TriggerSet
from core.db import make_engine, migrate
from core.tables import Event, Profile

pytestmark = [pytest.mark.nats, pytest.mark.slow]
NATS_URL = "nats://127.0.0.1:4222"
REPO = Path(__file__).resolve().parents[2]


def _orders(n: int, customers: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "track",
            "event": "Order Completed",
            "userId": f"{tag}-u{i % customers}",
            "messageId": f"{tag}-m{i}",
            "timestamp": "2026-01-01T00:00:00Z",
            "properties": {"revenue": 1.0},
        }
        for i in range(n)
    ]


def _worker(db_url: str, stream: str, idle_s: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CJO_DATABASE_URL": db_url,
        "CJO_STREAM_URL": NATS_URL,
        "CJO_STREAM_NAME": stream,
        "PYTHONPATH": str(REPO),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker", "--exit-after-idle", str(idle_s)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _counts(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as session:
        events = session.exec(select(func.count()).select_from(Event)).one()
        done = session.exec(
            select(func.count()).select_from(Event).where(col(Event.processed_at).is_not(None))
        ).one()
        orders = sum(p.computed.get("order_count", 0) for p in session.exec(select(Profile)))
    return events, done, orders


def _wait(proc: subprocess.Popen[bytes], seconds: float) -> None:
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def _names() -> StreamNames:
    return StreamNames(f"T{uuid.uuid4().hex[:8].upper()}")


async def _drop(names: StreamNames) -> None:
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    for stream in (names.stream, names.dead_stream):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream)
    await nc.close()


async def _publish_raw(names: StreamNames, payloads: list[bytes]) -> None:
    """Publish without a Nats-Msg-Id, as a foreign producer might."""
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    for payload in payloads:
        await js.publish(f"{names.prefix}.0", payload)
    await nc.close()


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, Engine]:
    url = f"sqlite:///{tmp_path / 'stream.db'}"
    engine = make_engine(url)
    migrate(engine)
    return url, engine


def test_duplicated_message_ids_across_two_workers_are_processed_once(
    db: tuple[str, Engine],
) -> None:
    url, engine = db
    names = _names()
    unique = _orders(5000, 250, names.stream)
    asyncio.run(publish(NATS_URL, unique, names))
    # The copies go without Nats-Msg-Id, so the server cannot drop them: 10,000 messages reach
    # the workers and the database's unique messageId has to do the dedup.
    asyncio.run(_publish_raw(names, [json.dumps(m).encode() for m in unique]))
    try:
        workers = [_worker(url, names.stream, 3.0) for _ in range(2)]
        for proc in workers:
            _wait(proc, 120)
            assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        asyncio.run(_drop(names))
    assert _counts(engine) == (5000, 5000, 5000)


def test_killing_a_worker_mid_stream_loses_no_event(db: tuple[str, Engine]) -> None:
    url, engine = db
    names = _names()
    asyncio.run(publish(NATS_URL, _orders(6000, 300, names.stream), names))
    try:
        first = _worker(url, names.stream, 30.0)
        deadline = time.monotonic() + 60
        while _counts(engine)[0] < 500 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert _counts(engine)[0] < 6000, "the worker finished before it could be killed"
        second = _worker(url, names.stream, 8.0)  # redelivery after ack_wait (5 s)
        _wait(second, 120)
    finally:
        asyncio.run(_drop(names))
    assert _counts(engine) == (6000, 6000, 6000)


def test_the_stream_keeps_messages_seven_days_and_drops_repeats_in_the_window() -> None:
    names = _names()

    async def scenario() -> tuple[Any, int]:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        # A stream made by an older cjo, without limits, is brought up to date.
        await js.add_stream(StreamConfig(name=names.stream, subjects=[f"{names.prefix}.>"]))
        await nc.close()
        orders = _orders(20, 5, names.stream)
        await publish(NATS_URL, orders + orders, names)
        nc = await nats.connect(NATS_URL)
        info = await nc.jetstream().stream_info(names.stream)
        await nc.close()
        return info.config, info.state.messages

    try:
        config, stored = asyncio.run(scenario())
    finally:
        asyncio.run(_drop(names))
    assert config.max_age == RETENTION_S == 7 * 24 * 3600
    assert config.duplicate_window == DUPLICATE_WINDOW_S
    assert stored == 20  # the repeated messageIds were dropped by the server


def test_unreadable_messages_go_to_the_dead_letter_stream_with_the_reason(
    db: tuple[str, Engine],
) -> None:
    _url, engine = db
    names = _names()
    good = json.dumps(_orders(1, 1, names.stream)[0]).encode()
    no_event = json.dumps({"type": "track", "userId": "d1", "messageId": "d-1"}).encode()

    async def scenario() -> tuple[JetStreamWorker, list[Any]]:
        await publish(NATS_URL, [], names)  # creates the streams
        await _publish_raw(names, [good, no_event, b"not json"])
        worker = JetStreamWorker(engine, NATS_URL, names=names, rules=TriggerSet())
        await worker.run(exit_after_idle_s=1.0)
        nc = await nats.connect(NATS_URL)
        sub = await nc.jetstream().pull_subscribe(names.dead_subject, stream=names.dead_stream)
        dead = await sub.fetch(10, timeout=2)
        await nc.close()
        return worker, dead

    try:
        worker, dead = asyncio.run(scenario())
    finally:
        asyncio.run(_drop(names))
    assert worker.accepted == 1 and worker.dead_lettered == 2
    assert _counts(engine) == (1, 1, 1)
    reasons = {m.data: m.headers["Cjo-Dead-Reason"] for m in dead}
    assert reasons[no_event].startswith("event: Field required")
    assert "json" in reasons[b"not json"].lower()
    assert {m.headers["Cjo-Original-Subject"] for m in dead} == {f"{names.prefix}.0"}


def test_cjo_import_through_the_stream_reaches_the_profiles(
    db: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = db
    names = _names()
    path = tmp_path / "events.jsonl"
    records = [
        {"userId": "i1", "event": "Order Completed", "properties": {"revenue": 4.5}},
        {"userId": "i1", "traits": {"email": "i1@example.com"}},
        {"type": "track", "userId": "i1"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n")
    env = {**os.environ, "CJO_DATABASE_URL": url, "CJO_STREAM_URL": NATS_URL}
    env |= {"CJO_STREAM_NAME": names.stream, "PYTHONPATH": str(REPO)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", "import", str(path), "--json"],
            cwd=REPO,
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout.decode().strip().splitlines()[-1])
        assert (summary["published"], summary["invalid"]) == (2, 2)
        worker = _worker(url, names.stream, 2.0)
        _wait(worker, 120)
        assert worker.returncode == 0
    finally:
        asyncio.run(_drop(names))
    with Session(engine) as session:
        view = get_profile_view(session, "i1@example.com")
    assert view is not None and view.computed["order_value"] == 4.5
