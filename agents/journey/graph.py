"""The journey graph: one generic interpreter of journey specs, checkpointed per run.

    enter -> next_step -+-> load_context -> decide -> create -> check -+-> execute -+-> next_step
                        |                                              +-> escalate <-+
                        |                                                  (interrupt) -> execute
                        +-> schedule_wait -> sleep (interrupt) -> next_step
                        +-> branch -> next_step
                        +-> hold (interrupt while paused) -> next_step
                        +-> finish (learn) -> END

One graph shape serves every journey: the run carries its pinned spec in its state, so a new
journey version never changes the node names a paused thread is waiting in.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import RetryPolicy
from sqlalchemy.exc import OperationalError

from agents.journey import effects, nodes
from agents.journey.context import JourneyContext
from agents.journey.routing import (
    route_after_check,
    route_after_decide,
    route_after_execute,
    route_after_review,
    route_step,
)
from agents.journey.state import JourneyInput, JourneyState

__all__ = ["build_graph", "make_graph"]

# Transient failures only (a locked SQLite file, a dropped connection); logic errors fail fast.
TRANSIENT = RetryPolicy(
    max_attempts=3,
    initial_interval=0.2,
    retry_on=(OperationalError, ConnectionError, TimeoutError),
)


def build_graph(
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the journey graph; pass a checkpointer for durable runs (the runner does)."""
    g: StateGraph[Any, Any, Any, Any] = StateGraph(
        JourneyState, context_schema=JourneyContext, input_schema=JourneyInput
    )
    g.add_node("enter", nodes.enter, retry_policy=TRANSIENT)
    g.add_node("next_step", nodes.next_step, retry_policy=TRANSIENT)
    g.add_node("hold", nodes.hold)
    g.add_node("load_context", nodes.load_context, retry_policy=TRANSIENT)
    g.add_node("decide", effects.decide, retry_policy=TRANSIENT)
    g.add_node("create", effects.create, retry_policy=TRANSIENT)
    g.add_node("check", effects.check, retry_policy=TRANSIENT)
    g.add_node("escalate", effects.escalate)
    g.add_node("execute", effects.execute, retry_policy=TRANSIENT)
    g.add_node("schedule_wait", nodes.schedule_wait, retry_policy=TRANSIENT)
    g.add_node("sleep", nodes.sleep)
    g.add_node("branch", nodes.branch, retry_policy=TRANSIENT)
    g.add_node("finish", nodes.finish, retry_policy=TRANSIENT)

    g.add_edge(START, "enter")
    g.add_edge("enter", "next_step")
    g.add_conditional_edges("next_step", route_step)
    g.add_edge("hold", "next_step")
    g.add_edge("load_context", "decide")
    g.add_conditional_edges("decide", route_after_decide)
    g.add_edge("create", "check")
    g.add_conditional_edges("check", route_after_check)
    g.add_conditional_edges("escalate", route_after_review)
    g.add_conditional_edges("execute", route_after_execute)
    g.add_edge("schedule_wait", "sleep")
    g.add_edge("sleep", "next_step")
    g.add_edge("branch", "next_step")
    g.add_edge("finish", END)
    return g.compile(checkpointer=checkpointer, name="journey")


def make_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """Factory for `langgraph.json` / `langgraph dev` (the platform supplies persistence)."""
    return build_graph()
