"""Where a run goes next: pure functions of the state, typed with the nodes they may pick."""

from __future__ import annotations

from typing import Literal

from agents.journey.holds import needs_person
from agents.journey.spec import END, ActionStep, BranchStep, JourneySpec, WaitStep
from agents.journey.state import JourneyState
from core.domain import GuardrailReport, Outcome

__all__ = [
    "route_after_check",
    "route_after_decide",
    "route_after_execute",
    "route_after_review",
    "route_step",
]


def route_step(
    state: JourneyState,
) -> Literal["hold", "finish", "load_context", "schedule_wait", "branch"]:
    """Held journeys wait; a reached goal or the end finishes; otherwise by step kind."""
    if state.get("held"):
        return "hold"
    step_id = state.get("step", END)
    if state.get("goal_reached") or step_id == END:
        return "finish"
    step = JourneySpec.model_validate(state["journey"]).step(step_id)
    if isinstance(step, ActionStep):
        return "load_context"
    if isinstance(step, WaitStep):
        return "schedule_wait"
    if isinstance(step, BranchStep):
        return "branch"
    return "finish"


def route_after_decide(state: JourneyState) -> Literal["create", "next_step"]:
    """Only a real, non-holdout action goes on to creative; `decide` closed the step otherwise."""
    decision = state.get("decision")
    ready = bool(decision and decision.get("action_id") and decision.get("channel"))
    return "create" if ready and not (decision or {}).get("holdout") else "next_step"


def route_after_check(state: JourneyState) -> Literal["execute", "escalate", "next_step"]:
    """Blocks end the step; escalations and holds nothing releases go to a person; the rest
    (allowed, held until a time, held by a pause) go on to be queued."""
    report = GuardrailReport.model_validate(
        state.get("report") or {"outcome": "allow", "verdicts": []}
    )
    if report.outcome == Outcome.block:
        return "next_step"
    if report.outcome == Outcome.escalate or needs_person(report):
        return "escalate"
    return "execute"


def route_after_review(state: JourneyState) -> Literal["execute", "next_step"]:
    return "execute" if state.get("approved") else "next_step"


def route_after_execute(state: JourneyState) -> Literal["escalate", "next_step"]:
    """The send-time check can still ask for a person (it then queued nothing)."""
    return "escalate" if state.get("needs_review") else "next_step"
