"""The journey runner: starts one run per trigger firing and resumes runs when they are due.

`run_once()` does one pass: consume unconsumed `TriggerFiring` rows, resume due waits and waits
whose goal event arrived, resume runs whose review was resolved or whose journey was resumed,
retry runs a transient error stopped once their backoff is over, recover runs a crashed process
left mid-step, and credit new outcome events. Each resume first *claims* the run with a
conditional UPDATE (status and updated_at), so two runners never drive the same thread at once.
The `JourneyRun` row mirrors the graph: status running / waiting / review / held / retrying /
completed / failed, the step, and `wake_at`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from langgraph.types import Command
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, col, select

from agents import outcomes
from agents.checkpointing import Checkpointer, make_checkpointer
from agents.journey.context import JourneyContext
from agents.journey.graph import build_graph
from agents.journey.lease import LeaseLost, held, new_lease
from agents.journey.nodes import goal_event, journey_paused
from agents.journey.spec import JourneySpec, JourneySpecError
from agents.journey.state import JourneyInput
from agents.journey.store import load_spec
from core import audit
from core.clock import as_utc
from core.db import session_scope
from core.domain import TriggerContext
from core.settings import Settings
from core.tables import AuditEntry, JourneyRun, Review, TriggerFiring

__all__ = ["JourneyRunner", "RunnerOptions", "RunnerStats"]

log = logging.getLogger("cjo.journeys")

_STATUS_OF_INTERRUPT = {"wait": "waiting", "review": "review", "hold": "held"}
# Worth another try later: the database or a model/provider endpoint was briefly unreachable.
# (Nodes already retry the quick ones in-process, graph.TRANSIENT; these outlasted that.)
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    ConnectionError,
    TimeoutError,
    httpx.TransportError,
)
RETRY_SCHEDULED = "journey.run_retry_scheduled"
ATTRIBUTION_OVERLAP = timedelta(minutes=1)  # each pass looks back this far past the last one


@dataclass(frozen=True)
class RunnerOptions:
    batch_size: int = 200
    poll_interval_s: float = 1.0
    # a run still "running" this long after its last update was left by a dead process
    stale_after: timedelta = timedelta(minutes=5)
    attribution_window: timedelta = timedelta(days=7)
    # a run stopped by a transient error is tried again this many times, after
    # retry_backoff, 2x, 4x ... (capped at retry_backoff_cap), before it is marked failed
    max_retries: int = 3
    retry_backoff: timedelta = timedelta(seconds=30)
    retry_backoff_cap: timedelta = timedelta(minutes=15)


@dataclass
class RunnerStats:
    started: int = 0
    resumed_due: int = 0
    resumed_goal: int = 0
    resumed_review: int = 0
    released: int = 0
    retried: int = 0
    recovered: int = 0
    completed: int = 0
    failed: int = 0
    lost: int = 0  # runs another runner took over while this one was still on them
    attributed: int = 0
    skipped_firings: int = 0

    @property
    def work_done(self) -> int:
        return (
            self.started
            + self.resumed_due
            + self.resumed_goal
            + self.resumed_review
            + self.released
            + self.retried
            + self.recovered
        )


@dataclass
class JourneyRunner:
    """Drives journey runs; also a BackgroundService (`name`, `start`, `stop`) for `cjo serve`."""

    context: JourneyContext
    settings: Settings
    options: RunnerOptions = field(default_factory=RunnerOptions)
    checkpointer: Checkpointer | None = None
    name: str = "journeys"

    def __post_init__(self) -> None:
        if self.checkpointer is None:
            self.checkpointer = make_checkpointer(self.settings)
        self.graph = build_graph(self.checkpointer.saver)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._attributed_until: datetime | None = None
        self._leases: dict[str, str] = {}  # run id -> the lease this runner holds on it

    # -- one pass ---------------------------------------------------------------------------

    def run_once(self) -> RunnerStats:
        stats = RunnerStats()
        self._recover_stale(stats)
        self._start_new(stats)
        self._resume_waits(stats)
        self._resume_reviews(stats)
        self._release_held(stats)
        self._retry_failed(stats)
        self._attribute(stats)
        return stats

    def run_until_idle(self, max_passes: int = 1000) -> RunnerStats:
        """Pass until a pass finds nothing to do (tests, the benchmark, replays)."""
        total = RunnerStats()
        for _ in range(max_passes):
            stats = self.run_once()
            for name in total.__dataclass_fields__:
                setattr(total, name, getattr(total, name) + getattr(stats, name))
            if stats.work_done == 0:
                break
        return total

    # -- starting ---------------------------------------------------------------------------

    def _start_new(self, stats: RunnerStats) -> None:
        with session_scope(self.context.engine) as session:
            firings = session.exec(
                select(TriggerFiring)
                .where(col(TriggerFiring.consumed_at).is_(None))
                .order_by(col(TriggerFiring.fired_at))
                .limit(self.options.batch_size)
            ).all()
        for firing in firings:
            started = self._open_run(firing, stats)
            if started is not None:
                self._invoke(started[0], started[1], started[2], stats)

    def _open_run(
        self, firing: TriggerFiring, stats: RunnerStats
    ) -> tuple[str, str, JourneyInput] | None:
        """Consume the firing and create its run in one transaction: exactly one run per firing."""
        now = self.context.now()
        with session_scope(self.context.engine) as session:
            taken = session.execute(
                update(TriggerFiring)
                .where(col(TriggerFiring.id) == firing.id, col(TriggerFiring.consumed_at).is_(None))
                .values(consumed_at=now)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None
            try:
                spec = load_spec(session, firing.journey_slug)
                skipped = "no active journey with this slug" if spec is None else None
            except JourneySpecError as exc:  # stored before a rule it breaks (e.g. a web step)
                spec, skipped = None, f"the stored journey no longer validates: {exc}"[:500]
            if spec is None:
                stats.skipped_firings += 1
                audit.append(
                    session,
                    actor=self.context.actor,
                    kind="journey.firing_skipped",
                    subject_type="trigger_firing",
                    subject_id=firing.id,
                    customer_id=firing.customer_id,
                    journey_id=firing.journey_slug,
                    payload={"reason": skipped},
                )
                return None
            lease = new_lease()
            run = JourneyRun(
                lease=lease,
                journey_slug=spec.slug,
                journey_version=spec.version,
                customer_id=firing.customer_id,
                trigger_key=firing.dedup_key,
                thread_id=f"journey:{spec.slug}:{firing.id}",
                started_at=as_utc(firing.fired_at),
                updated_at=now,
            )
            try:
                with session.begin_nested():
                    session.add(run)
            except IntegrityError:
                return None  # this customer already has a run for this occasion
            audit.append(
                session,
                actor=self.context.actor,
                kind="journey.run_started",
                subject_type="journey_run",
                subject_id=run.id,
                customer_id=run.customer_id,
                journey_id=spec.slug,
                payload={
                    "firing_id": firing.id,
                    "version": spec.version,
                    "thread_id": run.thread_id,
                },
            )
        stats.started += 1
        self._leases[run.id] = lease
        return run.id, run.thread_id, _initial_input(run, spec, firing)

    # -- resuming ---------------------------------------------------------------------------

    def _claim(self, run_id: str, status: str, *, older_than: datetime | None = None) -> bool:
        """Take the run with a new lease; False when another runner got there first."""
        lease = new_lease()
        with session_scope(self.context.engine) as session:
            query = update(JourneyRun).where(
                col(JourneyRun.id) == run_id, col(JourneyRun.status) == status
            )
            if older_than is not None:
                query = query.where(col(JourneyRun.updated_at) < older_than)
            done = session.execute(
                query.values(status="running", updated_at=self.context.now(), lease=lease)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return False
        self._leases[run_id] = lease
        return True

    def _resume_waits(self, stats: RunnerStats) -> None:
        now = self.context.now()
        with session_scope(self.context.engine) as session:
            waiting = session.exec(
                select(JourneyRun)
                .where(JourneyRun.status == "waiting")
                .limit(self.options.batch_size * 5)
            ).all()
            reasons: dict[str, str] = {}
            specs: dict[tuple[str, int], JourneySpec | None] = {}
            for run in waiting:
                key = (run.journey_slug, run.journey_version)
                if key not in specs:
                    specs[key] = load_spec(session, run.journey_slug, version=run.journey_version)
                spec = specs[key]
                if spec is not None and goal_event(
                    session, spec, run.customer_id, as_utc(run.started_at)
                ):
                    reasons[run.id] = "goal"
                elif run.wake_at is not None and as_utc(run.wake_at) <= now:
                    reasons[run.id] = "due"
        for run in waiting:
            reason = reasons.get(run.id)
            if reason and self._claim(run.id, "waiting"):
                if reason == "goal":
                    stats.resumed_goal += 1
                else:
                    stats.resumed_due += 1
                self._invoke(run.id, run.thread_id, Command(resume={"reason": reason}), stats)

    def _resume_reviews(self, stats: RunnerStats) -> None:
        with session_scope(self.context.engine) as session:
            candidates = session.exec(
                select(JourneyRun)
                .join(Review, col(Review.thread_id) == col(JourneyRun.thread_id))
                .where(
                    JourneyRun.status == "review",
                    col(Review.status).in_(["approved", "rejected", "expired"]),
                )
                .distinct()
            ).all()
        for run in candidates:
            pending = self._pending_interrupt(run.thread_id)
            if pending is None or pending.get("kind") != "review":
                continue
            with session_scope(self.context.engine) as session:
                review = session.get(Review, pending["review_id"])
            if review is None or review.status not in ("approved", "rejected", "expired"):
                continue
            if self._claim(run.id, "review"):
                stats.resumed_review += 1
                answer = {
                    "review_id": review.id,
                    "status": review.status,
                    "content": review.content,
                }
                self._invoke(run.id, run.thread_id, Command(resume=answer), stats)

    def _release_held(self, stats: RunnerStats) -> None:
        with session_scope(self.context.engine) as session:
            held = session.exec(select(JourneyRun).where(JourneyRun.status == "held")).all()
            free = [
                r for r in held if not journey_paused(session, r.journey_slug, r.journey_version)
            ]
        for run in free:
            if self._claim(run.id, "held"):
                stats.released += 1
                self._invoke(run.id, run.thread_id, Command(resume={"reason": "resumed"}), stats)

    def _recover_stale(self, stats: RunnerStats) -> None:
        """Runs left `running` by a dead process continue from their last checkpoint."""
        cutoff = self.context.now() - self.options.stale_after
        with session_scope(self.context.engine) as session:
            stale = session.exec(
                select(JourneyRun).where(
                    JourneyRun.status == "running", col(JourneyRun.updated_at) < cutoff
                )
            ).all()
        for run in stale:
            if not self._claim(run.id, "running", older_than=cutoff):
                continue
            stats.recovered += 1
            self._continue(run, stats)

    def _retry_failed(self, stats: RunnerStats) -> None:
        """Runs a transient error stopped go on from their last checkpoint once `wake_at` is due."""
        now = self.context.now()
        with session_scope(self.context.engine) as session:
            due = session.exec(
                select(JourneyRun)
                .where(JourneyRun.status == "retrying", col(JourneyRun.wake_at) <= now)
                .limit(self.options.batch_size)
            ).all()
        for run in due:
            if self._claim(run.id, "retrying"):
                stats.retried += 1
                self._continue(run, stats)

    def _continue(self, run: JourneyRun, stats: RunnerStats) -> None:
        """Go on from the last checkpoint: re-run the node that did not finish."""
        snapshot = self.graph.get_state(_config(run.thread_id))
        if not snapshot.values:  # stopped between opening the run and its first checkpoint
            payload: Any = self._rebuild_input(run)
        elif snapshot.interrupts:  # stopped after the interrupt, before the row was updated
            self._sync(run.id, {"__interrupt__": snapshot.interrupts, **snapshot.values}, stats)
            return
        else:
            payload = None  # continue with the pending nodes
        self._invoke(run.id, run.thread_id, payload, stats)

    def _rebuild_input(self, run: JourneyRun) -> JourneyInput:
        with session_scope(self.context.engine) as session:
            firing = session.exec(
                select(TriggerFiring).where(TriggerFiring.dedup_key == run.trigger_key)
            ).one()
            spec = load_spec(session, run.journey_slug, version=run.journey_version)
        assert spec is not None, f"journey {run.journey_slug} v{run.journey_version} vanished"
        return _initial_input(run, spec, firing)

    def _attribute(self, stats: RunnerStats) -> None:
        now = self.context.now()
        since = self._attributed_until or now - self.options.attribution_window
        with session_scope(self.context.engine) as session:
            stats.attributed += outcomes.attribute_outcomes(
                session,
                record_outcome=self.context.record_outcome,
                since=since,
                window=self.options.attribution_window,
            )
            stats.attributed += outcomes.settle_expired(
                session,
                record_outcome=self.context.record_outcome,
                now=now,
                window=self.options.attribution_window,
            )
        # overlap: `processed_at` is stamped inside a batch's transaction, before its commit,
        # so a long batch commits rows stamped earlier than this pass; credits are idempotent
        self._attributed_until = now - ATTRIBUTION_OVERLAP

    # -- invoking ---------------------------------------------------------------------------

    def _pending_interrupt(self, thread_id: str) -> dict[str, Any] | None:
        snapshot = self.graph.get_state(_config(thread_id))
        if not snapshot.interrupts:
            return None
        value = snapshot.interrupts[0].value
        return value if isinstance(value, dict) else None

    def _invoke(self, run_id: str, thread_id: str, payload: Any, stats: RunnerStats) -> None:
        config = _config(thread_id)
        config["configurable"]["lease"] = self._leases.get(run_id)
        try:
            result = self.graph.invoke(payload, config, context=self.context, durability="sync")
        except LeaseLost:  # another runner holds the run now: leave it to that one
            log.warning("journey run %s was taken over by another runner; stopping here", run_id)
            stats.lost += 1
            self._leases.pop(run_id, None)
            return
        except Exception as exc:  # the run stops here, visibly; other runs go on
            self._stopped(run_id, exc, stats)
            return
        self._sync(run_id, result, stats)

    def _stopped(self, run_id: str, exc: Exception, stats: RunnerStats) -> None:
        """A transient error schedules a retry (bounded, with backoff); anything else fails."""
        error = repr(exc)[:500]
        retries = self._retries_in_a_row(run_id)
        if isinstance(exc, TRANSIENT_ERRORS) and retries < self.options.max_retries:
            wait = min(self.options.retry_backoff * (2**retries), self.options.retry_backoff_cap)
            log.warning(
                "journey run %s stopped (%s); retry %d in %s", run_id, error, retries + 1, wait
            )
            self._mark(
                run_id,
                status="retrying",
                kind=RETRY_SCHEDULED,
                payload={"error": error, "attempt": retries + 1, "wait_s": wait.total_seconds()},
                wake_at=self.context.now() + wait,
            )
            return
        log.exception("journey run %s failed", run_id, exc_info=exc)
        stats.failed += 1
        self._mark(
            run_id,
            status="failed",
            kind="journey.run_failed",
            payload={
                "error": error,
                "retries": retries,
                "transient": isinstance(exc, TRANSIENT_ERRORS),
            },
            wake_at=None,
        )

    def _retries_in_a_row(self, run_id: str) -> int:
        """Retries since the run last made progress: its latest audit entries, if retries.

        Every node that completes writes an entry for the run, so a retry that got further
        resets the count; a failed node's own entry was rolled back with it.
        """
        with session_scope(self.context.engine) as session:
            kinds = session.exec(
                select(AuditEntry.kind)
                .where(AuditEntry.subject_type == "journey_run", AuditEntry.subject_id == run_id)
                .order_by(col(AuditEntry.seq).desc())
                .limit(self.options.max_retries + 1)
            ).all()
        count = 0
        for kind in kinds:
            if kind != RETRY_SCHEDULED:
                break
            count += 1
        return count

    def _sync(self, run_id: str, result: dict[str, Any], stats: RunnerStats) -> None:
        """Mirror the graph's position into the JourneyRun row."""
        interrupts = result.get("__interrupt__") or []
        value = interrupts[0].value if interrupts else None
        if isinstance(value, dict) and value.get("kind") in _STATUS_OF_INTERRUPT:
            wake = value.get("wake_at")
            self._mark(
                run_id,
                status=_STATUS_OF_INTERRUPT[value["kind"]],
                step=value.get("step"),
                wake_at=datetime.fromisoformat(wake) if wake else None,
            )
            return
        stats.completed += 1
        self._mark(run_id, status="completed", step=result.get("step"), wake_at=None)

    def _mark(
        self,
        run_id: str,
        *,
        status: str,
        kind: str | None = None,
        payload: dict[str, Any] | None = None,
        **values: Any,
    ) -> None:
        lease = self._leases.pop(run_id, None)  # the run leaves this runner's hands here
        with session_scope(self.context.engine) as session:
            # with our lease only: never overwrite the state a runner that took over set
            done = session.execute(
                held(run_id, lease).values(
                    status=status, updated_at=self.context.now(), lease=None, **values
                )
            )
            if lease is not None and done.rowcount != 1:  # type: ignore[attr-defined]
                log.warning("journey run %s: another runner holds it; not marking it", run_id)
                return
            if kind:
                _audit_run(session, self.context, run_id, kind, payload or {})

    # -- background service -----------------------------------------------------------------

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="journey-runner")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self.checkpointer is not None:
            self.checkpointer.close()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                stats = await asyncio.to_thread(self.run_once)
            except Exception:
                log.exception("journey runner pass failed; retrying")
                stats = RunnerStats()
            if stats.work_done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stopping.wait(), timeout=self.options.poll_interval_s
                    )


def _config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


def _initial_input(run: JourneyRun, spec: JourneySpec, firing: TriggerFiring) -> JourneyInput:
    trigger = TriggerContext(
        trigger=firing.trigger,
        journey_slug=firing.journey_slug,
        customer_id=firing.customer_id,
        fired_at=as_utc(firing.fired_at),
        dedup_key=firing.dedup_key,
        data=firing.data,
    )
    return {
        "run_id": run.id,
        "thread_id": run.thread_id,
        "customer_id": run.customer_id,
        "journey": spec.model_dump(mode="json"),
        "trigger": trigger.model_dump(mode="json"),
        "started_at": as_utc(run.started_at).isoformat(),
    }


def _audit_run(
    session: Session, ctx: JourneyContext, run_id: str, kind: str, payload: dict[str, Any]
) -> None:
    run = session.get(JourneyRun, run_id)
    audit.append(
        session,
        actor=ctx.actor,
        kind=kind,
        subject_type="journey_run",
        subject_id=run_id,
        customer_id=run.customer_id if run else None,
        journey_id=run.journey_slug if run else None,
        payload=payload,
    )
