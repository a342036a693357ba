"""The console's bridge to agents/ and tools/ for journeys, imported lazily.

Accepting a proposal goes through `tools.chat.journeys.accept_journey`, the very function the
chat agent calls (it validates, activates and audits `journey.accepted`), and the holdout
comparison is `agents.outcomes.holdout_comparison`, as the chat's journey_performance tool
shows it; the console adds no rules or statistics of its own. Builds without those packages
get pages that say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from api.web.review_service import load
from core.keys import Role
from core.settings import Settings

__all__ = [
    "CONSOLE_CONVERSATION",
    "AcceptRefused",
    "HoldoutView",
    "accept_proposal",
    "holdout_view",
]

# What the acceptance's audit entry records as its conversation: the console's journeys page.
CONSOLE_CONVERSATION = "console:journeys"
# Below this many holdout customers an interval is too wide to act on (as the chat says).
SMALL_HOLDOUT = 30


class AcceptRefused(Exception):
    """accept_journey said no (e.g. the definition no longer validates); the message says why."""


def accept_proposal(
    session: Session, proposal_id: str, *, actor: str, role: Role, settings: Settings
) -> dict[str, Any]:
    """Make a proposed journey version active, with the caller's authority (audited)."""
    journeys = load("tools.chat.journeys")
    env_module = load("tools.chat.env")
    env = env_module.ToolEnv(
        session=session,
        settings=settings,
        actor=actor,
        role=role,
        conversation_id=CONSOLE_CONVERSATION,
    )
    try:
        result = journeys.accept_journey(env, journey=proposal_id)
    except env_module.ToolError as exc:
        raise AcceptRefused(str(exc)) from exc
    data: dict[str, Any] = result.data
    return data


@dataclass(frozen=True)
class HoldoutView:
    """A journey's treated vs holdout figures, and the goal they count."""

    comparison: Any  # agents.outcomes.HoldoutComparison
    goal_event: str
    goal_window: str

    @property
    def customers(self) -> int:
        return int(self.comparison.treated.customers + self.comparison.control.customers)

    @property
    def holdout_too_small(self) -> bool:
        return bool(self.comparison.control.customers < SMALL_HOLDOUT)


def holdout_view(session: Session, slug: str) -> HoldoutView:
    """Conversion and revenue per customer, treated vs holdout, with 95% intervals.

    Raises ServiceMissing when agents/ is not part of this build.
    """
    outcomes = load("agents.outcomes")
    store = load("agents.journey.store")
    spec = store.load_spec(session, slug)
    goal = spec.goal if spec is not None else None
    return HoldoutView(
        comparison=outcomes.holdout_comparison(session, slug, spec=spec),
        goal_event=goal.event if goal else "Order Completed",  # holdout_comparison's defaults
        goal_window=goal.window if goal else "14d",
    )
