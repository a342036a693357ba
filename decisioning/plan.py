"""Per-catalog precomputation for arbitration: what does not change between decisions.

Applicability lists become sets, eligibility rules are compiled (path split, description
made), consent requirements and the fixed parts of every reason string are prepared once per
catalog (`Catalog.memo`), so a decision only does the per-customer work. The reasons read
exactly as before: an explanation does not depend on whether a plan was cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from decisioning.catalog import ActionSpec, Catalog
from decisioning.features import CompiledRule, compile_rule

__all__ = ["CONSENT_OK", "ActionPlan", "catalog_ids", "catalog_plan"]

# Email and audience may rely on implied consent (a purchase); sms and push need express opt-in.
CONSENT_OK: dict[str, frozenset[str]] = {
    "email": frozenset({"subscribed", "implied"}),
    "audience": frozenset({"subscribed", "implied"}),
    "sms": frozenset({"subscribed"}),
    "push": frozenset({"subscribed"}),
}


@dataclass(frozen=True)
class ActionPlan:
    """One action, ready for the per-decision stages."""

    action: ActionSpec
    triggers: frozenset[str]
    triggers_text: str  # the list as the reason string shows it
    journeys: frozenset[str]
    journeys_text: str
    placements: frozenset[str]
    placements_text: str
    consent_ok: frozenset[str] | None
    rules: tuple[CompiledRule, ...]
    cooldown: timedelta | None
    cooldown_text: str


def _plan(action: ActionSpec) -> ActionPlan:
    rules = action.applicability
    return ActionPlan(
        action=action,
        triggers=frozenset(rules.triggers),
        triggers_text=str(rules.triggers),
        journeys=frozenset(rules.journeys),
        journeys_text=str(rules.journeys),
        placements=frozenset(rules.placements),
        placements_text=str(rules.placements),
        consent_ok=CONSENT_OK.get(action.channel),
        rules=tuple(compile_rule(r) for r in action.eligibility),
        cooldown=timedelta(days=action.cooldown_days) if action.cooldown_days else None,
        cooldown_text=f"cooldown {action.cooldown_days:g} days",
    )


def catalog_plan(catalog: Catalog) -> tuple[ActionPlan, ...]:
    """The catalog's actions, compiled once (kept with the catalog)."""
    return catalog.memo("arbitration_plan", lambda c: tuple(_plan(a) for a in c.actions))


def catalog_ids(catalog: Catalog) -> tuple[str, ...]:
    """The action ids in catalog order, as the bandit's stacked-arms key."""
    return catalog.memo("arbitration_ids", lambda c: tuple(a.id for a in c.actions))
