"""The audit entry every journey node writes: inputs digest and outputs, in its transaction.

Writing it also renews the run's lease (agents.journey.lease): a node whose runner lost the
run raises LeaseLost here, and its whole transaction rolls back.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from agents.journey.context import JourneyContext
from agents.journey.lease import renew
from agents.journey.state import JourneyState
from core import audit

__all__ = ["record"]


def record(
    session: Session,
    ctx: JourneyContext,
    state: JourneyState,
    node: str,
    *,
    inputs: Any,
    outputs: dict[str, Any],
) -> None:
    """Append `journey.<node>` for this run; inputs are kept as a digest (they can be large)."""
    renew(session, state["run_id"], ctx.now())
    audit.append(
        session,
        actor=ctx.actor,
        kind=f"journey.{node}",
        subject_type="journey_run",
        subject_id=state["run_id"],
        customer_id=state["customer_id"],
        journey_id=state["journey"]["slug"],
        payload={
            "step": state.get("step"),
            "inputs_digest": audit.digest(inputs),
            "outputs": outputs,
        },
    )
