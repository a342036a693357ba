"""Ingestion throughput and latency: accept, full processing, accept-to-profile-visible.

Every rate comes with the raw bulk insert of the same rows into the same kind of database,
measured in the same run (accept_to_raw_ratio). Cases: SQLite and PostgreSQL, 1 and 2 workers
(2 workers = two threads running the processing loop: serial on SQLite, parallel batches on
PostgreSQL, though the threads share one interpreter's GIL). "Profile visible" is measured by a
reader process, i.e. after the processing transaction (in a worker process) has committed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from bench.report import BenchReport, percentile
from cdp.events import MESSAGE_ADAPTER, event_row
from cdp.ingest import accept
from cdp.pipeline import process_pending
from cdp.triggers import TriggerSet, load_rules
from core.db import make_engine, migrate, session_scope
from core.tables import Event

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _messages(n: int, customers: int, tag: str) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        kind = "Order Completed" if i % 3 else "Product Added"
        out.append(
            {
                "type": "track",
                "event": kind,
                "userId": f"{tag}-u{i % customers}",
                "messageId": f"{tag}-{i}",
                "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
                "properties": {"revenue": 9.99, "price": 9.99, "quantity": 1},
            }
        )
    return out


@contextlib.contextmanager
def _database(kind: str) -> Iterator[Engine]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
            migrate(engine)
            yield engine
            engine.dispose()
        return
    import psycopg

    name = f"cjo_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _raw_insert(engine: Engine, messages: list[dict[str, Any]], chunk: int) -> float:
    now = datetime.now(UTC)
    rows = [event_row(MESSAGE_ADAPTER.validate_python(m), now) for m in messages]
    for row in rows:
        row["message_id"] = "raw-" + row["message_id"]
    started = time.perf_counter()
    for i in range(0, len(rows), chunk):
        with session_scope(engine) as session:
            session.execute(insert(Event), rows[i : i + chunk])
    elapsed = time.perf_counter() - started
    with session_scope(engine) as session:  # keep the queue clean for the processing run
        session.execute(
            Event.__table__.update().values(processed_at=now)  # type: ignore[attr-defined]
        )
    return elapsed


def _accept(engine: Engine, messages: list[dict[str, Any]], chunk: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(messages), chunk):
        parsed = [MESSAGE_ADAPTER.validate_python(m) for m in messages[i : i + chunk]]
        with session_scope(engine) as session:
            accept(session, parsed)
    return time.perf_counter() - started


def _process(engine: Engine, workers: int, rules: TriggerSet) -> float:
    started = time.perf_counter()

    def loop() -> None:
        while process_pending(engine, limit=1000, rules=rules):
            pass

    threads = [threading.Thread(target=loop) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def _worker_process(url: str, rules: dict[str, Any], ready: Any, stop: Any) -> None:
    """The processing loop in its own process, as `cjo worker` runs it."""
    engine = make_engine(url)
    trigger_set = TriggerSet.model_validate(rules)
    ready.set()
    while not stop.is_set():
        if not process_pending(engine, limit=1000, rules=trigger_set):
            time.sleep(0.002)
    engine.dispose()


def _reader_process(url: str, committed: Any, seen_out: Any, ready: Any) -> None:
    """A reader in its own process: notes (time.monotonic) when each committed event first
    shows as processed, i.e. when the processing transaction that changed its profile has
    committed. Ids arrive on `committed` (None: no more); the result goes to `seen_out`."""
    engine = make_engine(url, read_only=True)
    waiting: set[str] = set()
    seen: dict[str, float] = {}
    more = True
    deadline = float("inf")
    ready.set()
    while (more or waiting) and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            while True:
                item = committed.get_nowait()
                if item is None:
                    more, deadline = False, time.monotonic() + 120
                else:
                    waiting.add(item)
        if not waiting:
            time.sleep(0.0005)
            continue
        with engine.connect() as conn:
            visible = conn.execute(
                select(Event.message_id).where(  # type: ignore[call-overload]
                    Event.message_id.in_(sorted(waiting)),  # type: ignore[attr-defined]
                    Event.processed_at.is_not(None),  # type: ignore[union-attr]
                )
            ).scalars()
            at = time.monotonic()
            for message_id in visible:
                seen[message_id] = at
                waiting.discard(message_id)
    engine.dispose()
    seen_out.put(seen)


def _visibility(engine: Engine, rate: int, seconds: float, rules: TriggerSet) -> list[float]:
    """Accept one event at a time at `rate`/s while a worker process loops; ms from the
    accept's commit until a reader process sees the event processed.

    Measured from the reader's side: `processed_at` is stamped inside the processing
    transaction, before the rest of the batch and the commit, so reading it back
    under-measures. Worker and reader are processes of their own (as the API, `cjo worker` and
    a caller are), so the figure carries no GIL hand-offs between them either.
    """
    messages = _messages(int(rate * seconds), 200, f"vis{uuid.uuid4().hex[:6]}")
    url = engine.url.render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("spawn")
    stop, ready_w, ready_r = ctx.Event(), ctx.Event(), ctx.Event()
    ids, seen_out = ctx.Queue(), ctx.Queue()
    worker = ctx.Process(target=_worker_process, args=(url, rules.model_dump(), ready_w, stop))
    reader = ctx.Process(target=_reader_process, args=(url, ids, seen_out, ready_r))
    worker.start()
    reader.start()
    ready_w.wait(120)
    ready_r.wait(120)
    committed: dict[str, float] = {}
    try:
        started = time.monotonic()
        for i, message in enumerate(messages):
            target = started + i / rate
            if (delay := target - time.monotonic()) > 0:
                time.sleep(delay)
            parsed = MESSAGE_ADAPTER.validate_python(message)
            with session_scope(engine) as session:
                accept(session, [parsed])
            committed[message["messageId"]] = time.monotonic()
            ids.put(message["messageId"])
        ids.put(None)
        seen: dict[str, float] = seen_out.get(timeout=300)
    finally:
        stop.set()
        worker.join(60)
        reader.join(60)
    return [max(0.0, (seen[m] - committed[m]) * 1000) for m in committed if m in seen]


def _case(kind: str, workers: int, n: int, rules: TriggerSet, latency: bool) -> dict[str, float]:
    messages = _messages(n, max(1, n // 20), f"{kind}{workers}")
    with _database(kind) as engine:
        raw_s = _raw_insert(engine, messages, 500)
        accept_s = _accept(engine, messages, 500)
        process_s = _process(engine, workers, rules)
        out = {
            "raw_insert_events_per_s": round(n / raw_s, 1),
            "accepted_events_per_s": round(n / accept_s, 1),
            "accept_to_raw_ratio": round(raw_s / accept_s, 3),
            "processed_events_per_s": round(n / process_s, 1),
        }
        if latency:
            lat = _visibility(engine, 1000, 2.0, rules)
            out["profile_visible_p50_ms"] = round(percentile(lat, 50), 2)
            out["profile_visible_p99_ms"] = round(percentile(lat, 99), 2)
    return out


def run(quick: bool = False) -> BenchReport:
    n = 2000 if quick else 20000
    rules = load_rules()
    details: dict[str, Any] = {"events": n, "batch": 500, "rules": "examples/triggers.yaml"}
    metrics: dict[str, float] = {}
    for kind in ("sqlite", "postgres"):
        for workers in (1, 2):
            try:
                case = _case(kind, workers, n, rules, latency=workers == 1)
            except Exception as exc:  # e.g. PostgreSQL not running: say so, keep the others
                details[f"{kind}_{workers}w_error"] = str(exc)[:200]
                continue
            details[f"{kind}_{workers}w"] = case
            if kind == "sqlite" and workers == 1:
                metrics.update(case)
            else:
                metrics.update({f"{kind}_{workers}w_{k}": v for k, v in case.items()})
    return BenchReport(bench="ingest", metrics=metrics, details=details)
