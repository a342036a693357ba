"""Flow nodes of the journey graph: enter, step selection, pause hold, waits, branches, finish.

Each node is `(state, runtime) -> partial update`, opens one transaction for its reads and
writes, and writes one audit entry in it. LangGraph re-runs a node from its top when a run
resumes, so nodes either write idempotently or write only after their `interrupt()` returns.
The action nodes (decide, create, check, escalate, execute) live in `agents.journey.effects`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from sqlmodel import Session, col, select

from agents import outcomes
from agents.journey import audit_trail
from agents.journey.conditions import evaluate
from agents.journey.context import JourneyContext
from agents.journey.spec import END, BranchStep, JourneySpec, WaitStep, parse_duration
from agents.journey.state import JourneyState
from agents.tables import JourneyAssignment
from core.clock import as_utc
from core.controls import is_paused
from core.db import session_scope
from core.tables import Event, Journey

__all__ = [
    "branch",
    "enter",
    "finish",
    "hold",
    "holdout_arm",
    "load_context",
    "next_step",
    "schedule_wait",
    "sleep",
    "spec_of",
]


def spec_of(state: JourneyState) -> JourneySpec:
    return JourneySpec.model_validate(state["journey"])


def holdout_arm(slug: str, customer_id: str, pct: float) -> str:
    """Deterministic arm: the same customer lands in the same arm of a journey every time."""
    bucket = int.from_bytes(hashlib.sha256(f"{slug}:{customer_id}".encode()).digest()[:4], "big")
    return "control" if bucket % 10_000 < round(pct * 100) else "treated"


def enter(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """Assign the holdout arm (recorded once per run) and point at the first step."""
    ctx, spec = runtime.context, spec_of(state)
    arm = holdout_arm(spec.slug, state["customer_id"], spec.holdout_pct)
    with session_scope(ctx.engine) as session:
        if session.get(JourneyAssignment, state["run_id"]) is None:
            session.add(
                JourneyAssignment(
                    run_id=state["run_id"],
                    journey_slug=spec.slug,
                    customer_id=state["customer_id"],
                    arm=arm,
                    assigned_at=as_utc(datetime.fromisoformat(state["started_at"])),
                )
            )
        audit_trail.record(
            session, ctx, state, "entered", inputs=state["trigger"], outputs={"arm": arm}
        )
    return {"arm": arm, "step": spec.steps[0].id, "results": {}, "goal_reached": False}


def goal_event(
    session: Session, spec: JourneySpec, customer_id: str, since: datetime
) -> Event | None:
    """The first goal event of this customer since the run started, if any."""
    if spec.goal is None:
        return None
    return session.exec(
        select(Event)
        .where(Event.customer_id == customer_id, Event.event == spec.goal.event)
        .where(col(Event.timestamp) >= since)
        .order_by(col(Event.timestamp))
    ).first()


def journey_paused(session: Session, slug: str, version: int) -> bool:
    """A journey holds when its row says paused or a kill switch covers it."""
    row = session.exec(
        select(Journey).where(Journey.slug == slug, Journey.version == version)
    ).first()
    return (row is not None and row.status == "paused") or is_paused(session, journey_slug=slug)


def next_step(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """Before each step: is the journey paused (hold), or has the goal been reached (finish)?"""
    ctx, spec = runtime.context, spec_of(state)
    with session_scope(ctx.engine) as session:
        held = journey_paused(session, spec.slug, spec.version)
        reached = state.get("goal_reached", False) or (
            goal_event(session, spec, state["customer_id"], _started(state)) is not None
        )
        audit_trail.record(
            session,
            ctx,
            state,
            "step_entered",
            inputs={"step": state.get("step")},
            outputs={"held": held, "goal_reached": reached},
        )
    return {"held": held, "goal_reached": reached}


def hold(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """Paused journey: stop here until the runner sees it active again, then re-check."""
    answer = interrupt({"kind": "hold", "step": state.get("step")})
    with session_scope(runtime.context.engine) as session:
        audit_trail.record(session, runtime.context, state, "released", inputs=answer, outputs={})
    return {"held": False}


def load_context(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """Fresh profile for this step (it may have changed during a wait); clears the last step."""
    ctx = runtime.context
    with session_scope(ctx.engine) as session:
        profile = ctx.load_profile(session, state["customer_id"])
        dumped = profile.model_dump(mode="json") if profile is not None else None
        audit_trail.record(
            session,
            ctx,
            state,
            "context_loaded",
            inputs={"customer_id": state["customer_id"]},
            outputs={"profile_found": profile is not None},
        )
    return {
        "profile": dumped,
        "decision": None,
        "creative": None,
        "action": None,
        "report": None,
        "review": None,
        "approved": False,
        "needs_review": False,
    }


def schedule_wait(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """Fix the wake-up time once (checkpointed), so a resumed run keeps the original deadline."""
    ctx, spec = runtime.context, spec_of(state)
    step = spec.step(state["step"])
    assert isinstance(step, WaitStep)
    wake_at = ctx.now() + parse_duration(step.duration)
    with session_scope(ctx.engine) as session:
        audit_trail.record(
            session,
            ctx,
            state,
            "wait_scheduled",
            inputs={"duration": step.duration},
            outputs={"wake_at": wake_at.isoformat()},
        )
    return {"wake_at": wake_at.isoformat()}


def sleep(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """Interrupt until the runner resumes us: `{"reason": "due"}` or `{"reason": "goal"}`."""
    spec = spec_of(state)
    answer = interrupt(
        {
            "kind": "wait",
            "step": state["step"],
            "wake_at": state.get("wake_at"),
            "goal_event": spec.goal.event if spec.goal else None,
        }
    )
    reason = answer.get("reason", "due") if isinstance(answer, dict) else "due"
    update: dict[str, Any] = {
        "wake_at": None,
        "step": spec.following(state["step"]),
        "results": {state["step"]: {"outcome": f"wait_{reason}"}},
    }
    if reason == "goal":
        update["goal_reached"] = True
    with session_scope(runtime.context.engine) as session:
        audit_trail.record(
            session, runtime.context, state, "wait_ended", inputs=answer, outputs={"reason": reason}
        )
    return update


def branch(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """Take the first rule whose condition holds on the fresh profile and earlier step results."""
    ctx, spec = runtime.context, spec_of(state)
    step = spec.step(state["step"])
    assert isinstance(step, BranchStep)
    with session_scope(ctx.engine) as session:
        profile = ctx.load_profile(session, state["customer_id"])
        facts = {
            "profile": profile.model_dump(mode="json") if profile else {},
            "steps": state.get("results", {}),
            "goal_reached": state.get("goal_reached", False),
        }
        target = next((r.goto for r in step.rules if evaluate(r.when, facts)), step.default)
        audit_trail.record(session, ctx, state, "branched", inputs=facts, outputs={"goto": target})
    return {"step": target, "results": {step.id: {"outcome": f"goto:{target}"}}}


def finish(state: JourneyState, runtime: Runtime[JourneyContext]) -> dict[str, Any]:
    """End the run and learn: credit the goal to the last sent decision, or record no conversion."""
    ctx, spec = runtime.context, spec_of(state)
    with session_scope(ctx.engine) as session:
        event = goal_event(session, spec, state["customer_id"], _started(state))
        credited = outcomes.settle_run(
            session,
            record_outcome=ctx.record_outcome,
            spec=spec,
            run_id=state["run_id"],
            customer_id=state["customer_id"],
            results=state.get("results", {}),
            goal=event,
        )
        audit_trail.record(
            session,
            ctx,
            state,
            "completed",
            inputs=state.get("results", {}),
            outputs={"goal_reached": event is not None, "credited": credited},
        )
    return {"status": "completed", "step": END, "goal_reached": event is not None}


def _started(state: JourneyState) -> datetime:
    return as_utc(datetime.fromisoformat(state["started_at"]))
