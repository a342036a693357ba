"""Crash test: SIGKILL the journey runner at random points over 100 runs, restart until done.

Passes when every run completed (0 lost) and every journey step enqueued exactly one outbox
message (0 duplicates, by idempotency key and by run/step), with the creative deliberately
different on every re-run, as an LLM's would be. The child also runs the real outbox
dispatcher, so kills land mid-delivery too, and the test counts what arrived at the receivers
(SMTP capture server, SMS sandbox provider, CSM task table) per idempotency key.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from core.audit import verify_chain
from core.clock import utcnow
from core.db import session_scope
from core.tables import JourneyRun, OutboxMessage
from tests.graph.factories import add_journey, fire
from tools.tables import CapturedEmail, CsmTask, SandboxMessage

REPO = Path(__file__).resolve().parents[2]
RUNS = 100
KILLS = 6

CRASH_JOURNEY = """
slug: crash
name: Crash test journey
trigger: test
goal: {event: Order Completed, window: 3d}
steps:
  - {id: first_email, kind: action, channels: [email], actions: [hello]}
  - {id: pause, kind: wait, duration: 0s}
  - id: split
    kind: branch
    rules: [{when: {field: profile.computed.monetary, op: gte, value: 500}, goto: csm_task}]
    default: follow_sms
  - {id: follow_sms, kind: action, channels: [sms], actions: [nudge], next: end}
  - {id: csm_task, kind: action, channels: [csm], actions: [call]}
"""


def _start(url: str, data_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.journey_crash_child", url, str(data_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready": imports done, the runner is about to work
    return proc


def _crash_until_done(url: str, data_dir: Path, seed: int) -> int:
    rng = random.Random(seed)
    kills = 0
    for _ in range(KILLS + 20):
        proc = _start(url, data_dir)
        if kills < KILLS:
            time.sleep(rng.uniform(0.0, 0.6))
            if proc.poll() is None:
                proc.kill()  # SIGKILL: no cleanup, no atexit, mid-transaction
                proc.wait()
                kills += 1
                continue
        code = proc.wait(timeout=400)
        if code == 0:
            return kills
        assert code == 3, f"child failed with exit code {code}"
    raise AssertionError("journey runs did not finish after the crashes")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sigkill_during_100_runs_loses_none_and_sends_none_twice(
    db: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    engine: Engine = request.getfixturevalue("sqlite_engine" if db == "sqlite" else "pg_engine")
    url = engine.url.render_as_string(hide_password=False)
    add_journey(engine, CRASH_JOURNEY)
    now = utcnow()
    for i in range(RUNS):
        fire(engine, "crash", f"c{i}", at=now)

    kills = _crash_until_done(url, tmp_path / "var", seed=7)

    with session_scope(engine) as session:
        runs = session.exec(select(JourneyRun)).all()
        messages = session.exec(select(OutboxMessage)).all()
        emails = session.exec(select(CapturedEmail)).all()
        texts = session.exec(select(SandboxMessage)).all()
        tasks = session.exec(select(CsmTask)).all()
        assert verify_chain(session).ok
    assert kills >= 1
    assert len(runs) == RUNS and {r.status for r in runs} == {"completed"}  # 0 runs lost
    keys = Counter(m.idempotency_key for m in messages)
    steps = Counter((m.run_id, m.payload["step"]) for m in messages)
    assert max(keys.values()) == 1 and max(steps.values()) == 1  # 0 duplicates in the outbox
    assert len(messages) == 2 * RUNS  # every run sent its email and its sms or csm task
    assert Counter(m.channel for m in messages) == {"email": 100, "sms": 66, "csm": 34}
    assert {m.status for m in messages} == {"sent"}
    # what the receivers hold, per idempotency key: every message, each exactly once
    received = Counter(
        [e.idempotency_key for e in emails]
        + [t.idempotency_key for t in texts]
        + [t.idempotency_key for t in tasks]
    )
    assert set(received) == set(keys)
    assert max(received.values()) == 1  # 0 duplicate sends, counted at the receivers
    # a message reaches its receiver a second time only when a kill fell between the
    # provider accepting it and the row being marked sent (one send in flight per child);
    # the receiver recognises the key and keeps one copy
    replays = sum(e.deliveries - 1 for e in emails) + sum(t.deliveries - 1 for t in texts)
    assert replays <= kills
    print("crash-test", {"db": db, "kills": kills, "replays_deduplicated": replays})
