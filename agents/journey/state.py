"""What a journey run carries from node to node (and what each checkpoint stores).

Values are plain JSON-like dicts (pydantic models dumped with `mode="json"`), so checkpoints
stay readable, portable between SQLite and Postgres savers, and stable across code versions.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

__all__ = ["JourneyInput", "JourneyState", "StepResult"]


def merge_results(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Step results accumulate: a later write for the same step replaces the earlier one."""
    return {**(left or {}), **(right or {})}


class StepResult(TypedDict, total=False):
    outcome: str  # queued | blocked | rejected | expired | no_action | holdout ...
    decision_id: str | None
    action_id: str | None
    channel: str | None
    key: str | None
    at: str


class JourneyInput(TypedDict):
    """What the runner hands the graph to start one run."""

    run_id: str
    thread_id: str
    customer_id: str
    journey: dict[str, Any]
    trigger: dict[str, Any]
    started_at: str


class JourneyState(JourneyInput, total=False):
    arm: str  # treated | control (journey holdout)
    step: str  # id of the step being worked on; "end" when done
    held: bool
    goal_reached: bool
    profile: dict[str, Any] | None
    decision: dict[str, Any] | None
    creative: dict[str, Any] | None
    action: dict[str, Any] | None
    report: dict[str, Any] | None
    review: dict[str, Any] | None
    approved: bool
    needs_review: bool  # the send-time check asked for a person; nothing was queued
    wake_at: str | None
    results: Annotated[dict[str, StepResult], merge_results]
    status: str
