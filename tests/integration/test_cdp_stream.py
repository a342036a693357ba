"""JetStream transport against the local NATS server (127.0.0.1:4222) with `cjo worker` processes.

Done-when: 10,000 messages with duplicated messageIds across 2 workers are processed once;
killing a worker mid-stream and starting another loses no event.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from cdp.stream import StreamNames, publish
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
    stream = f"T{uuid.uuid4().hex[:8].upper()}"
    unique = _orders(5000, 250, stream)
    asyncio.run(publish(NATS_URL, unique + unique, StreamNames(stream)))  # 10,000 messages
    workers = [_worker(url, stream, 3.0) for _ in range(2)]
    for proc in workers:
        _wait(proc, 120)
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert _counts(engine) == (5000, 5000, 5000)


def test_killing_a_worker_mid_stream_loses_no_event(db: tuple[str, Engine]) -> None:
    url, engine = db
    stream = f"T{uuid.uuid4().hex[:8].upper()}"
    asyncio.run(publish(NATS_URL, _orders(6000, 300, stream), StreamNames(stream)))
    first = _worker(url, stream, 30.0)
    deadline = time.monotonic() + 60
    while _counts(engine)[0] < 500 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert _counts(engine)[0] < 6000, "the worker finished before it could be killed"
    second = _worker(url, stream, 8.0)  # redelivery after ack_wait (5 s)
    _wait(second, 120)
    assert _counts(engine) == (6000, 6000, 6000)
