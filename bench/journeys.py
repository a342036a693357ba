"""Journey throughput: runs/s through the LangGraph runner vs the same nodes as plain calls.

Both arms run the same one-action journey on embedded defaults (SQLite database, SqliteSaver
checkpoints, `durability="sync"`), with the same node functions, audit entries and outbox
writes; collaborators are cached/fixed (creative from cache, allow-all guardrails) because the
benchmark measures what the graph adds: checkpoints, scheduling, state merging.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agents.journey import effects, nodes, routing
from agents.journey.context import JourneyContext
from agents.journey.runner import JourneyRunner, RunnerStats
from agents.journey.state import merge_results
from agents.journey.store import save_journey
from bench.report import BenchReport
from core.clock import utcnow
from core.db import make_engine, migrate, session_scope
from core.domain import (
    Creative,
    DecisionContext,
    DecisionOutcome,
    GuardrailReport,
    PlannedAction,
    ProfileView,
    Verdict,
)
from core.settings import Settings
from core.tables import OutboxMessage, Review, TriggerFiring

JOURNEY = """
slug: bench
name: Bench journey
trigger: bench
goal: {event: Order Completed, window: 3d}
steps:
  - {id: offer, kind: action, channels: [email], actions: [offer_email]}
"""
ROUNDS = 3
_CACHED = Creative(
    channel="email",
    content={"subject": "Back in stock", "body_text": "Your favourites are back."},
    conformance_score=0.95,
    source="cache",
)


def _profile(session: Session, customer_id: str) -> ProfileView:
    return ProfileView(customer_id=customer_id, traits={"email": f"{customer_id}@example.com"})


def _decide(
    session: Session, profile: ProfileView, ctx: DecisionContext, now: datetime
) -> DecisionOutcome:
    return DecisionOutcome(
        decision_id=uuid.uuid4().hex,
        customer_id=profile.customer_id,
        action_id="offer_email",
        channel="email",
    )


def _creative(session: Session, profile: ProfileView, decision: DecisionOutcome) -> Creative:
    return _CACHED


def _check(
    session: Session, action: PlannedAction, profile: ProfileView, now: datetime, stage: str
) -> GuardrailReport:
    return GuardrailReport.of([Verdict.allow("bench")])


def _review(
    session: Session,
    action: PlannedAction,
    report: GuardrailReport,
    thread_id: str,
    *,
    expires_at: datetime | None,
) -> Review:
    raise AssertionError("the bench journey never escalates")


def _enqueue(
    session: Session, *, channel: str, key: str, payload: dict[str, Any], **kw: Any
) -> tuple[OutboxMessage, bool]:
    kw.pop("not_before", None)
    row = OutboxMessage(idempotency_key=key, channel=channel, payload=payload, **kw)
    session.add(row)
    return row, True


def _no_outcome(session: Session, *, decision_id: str, reward: float, kind: str) -> None:
    return None


def _context(engine: Engine) -> JourneyContext:
    return JourneyContext(
        engine=engine,
        load_profile=_profile,
        decide=_decide,
        write_creative=_creative,
        check=_check,
        create_review=_review,
        enqueue=_enqueue,
        record_outcome=_no_outcome,
    )


def _fire(engine: Engine, prefix: str, n: int) -> None:
    now = utcnow()
    with session_scope(engine) as session:
        for i in range(n):
            session.add(
                TriggerFiring(
                    trigger="bench",
                    journey_slug="bench",
                    customer_id=f"{prefix}{i}",
                    dedup_key=f"{prefix}:{i}",
                    fired_at=now,
                )
            )


def _plain_run(runner: JourneyRunner, firing: TriggerFiring) -> None:
    """The same steps as the graph, called directly: no checkpoints, no scheduler."""
    opened = runner._open_run(firing, RunnerStats())
    assert opened is not None
    run_id, _, initial = opened
    runtime = Runtime(context=runner.context)
    state: dict[str, Any] = dict(initial)

    def step(fn: Any) -> None:
        update = fn(state, runtime)
        if "results" in update:
            update = {**update, "results": merge_results(state.get("results"), update["results"])}
        state.update(update)

    step(nodes.enter)
    while True:
        step(nodes.next_step)
        if routing.route_step(state) == "finish":  # type: ignore[arg-type]
            break
        step(nodes.load_context)
        step(effects.decide)
        if routing.route_after_decide(state) == "create":  # type: ignore[arg-type]
            step(effects.create)
            step(effects.check)
            if routing.route_after_check(state) == "execute":  # type: ignore[arg-type]
                step(effects.execute)
    step(nodes.finish)
    runner._sync(run_id, state, RunnerStats())


def run(quick: bool = False) -> BenchReport:
    n = 15 if quick else 300
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'cjo.db'}")
        migrate(engine)
        with session_scope(engine) as session:
            save_journey(session, JOURNEY, actor="bench")
        runner = JourneyRunner(_context(engine), Settings(data_dir=Path(tmp), environment="test"))

        _fire(engine, "warm", 5)  # first-call costs (imports, statement caches) out of the timing
        runner.run_until_idle()

        # alternate the arms in rounds, so load from other processes hits both alike
        plain_s = graph_s = 0.0
        completed = 0
        per_round = max(1, n // ROUNDS)
        for round_no in range(ROUNDS):
            _fire(engine, f"plain{round_no}-", per_round)
            with session_scope(engine) as session:
                firings = list(
                    session.exec(
                        select(TriggerFiring).where(TriggerFiring.consumed_at == None)  # noqa: E711
                    )
                )
            started = time.perf_counter()
            for firing in firings:
                _plain_run(runner, firing)
            plain_s += time.perf_counter() - started

            _fire(engine, f"graph{round_no}-", per_round)
            started = time.perf_counter()
            completed += runner.run_until_idle().completed
            graph_s += time.perf_counter() - started
        n = per_round * ROUNDS

        with session_scope(engine) as session:
            sent = len(session.exec(select(OutboxMessage.id)).all())
        assert runner.checkpointer is not None
        runner.checkpointer.close()
        engine.dispose()
    return BenchReport(
        bench="journeys",
        metrics={
            "runs_per_s": round(completed / graph_s, 1),
            "plain_runs_per_s": round(n / plain_s, 1),
            "overhead_ratio": round(graph_s / plain_s, 3),
        },
        details={"runs": n, "outbox_rows": sent, "database": "sqlite", "checkpointer": "sqlite"},
    )
