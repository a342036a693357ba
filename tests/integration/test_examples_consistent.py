"""The demo's examples agree with each other: journeys, catalog and trigger rules.

Each file is owned by a different package; a renamed action or trigger in one would silently
turn a journey step into "do nothing". These checks catch that.
"""

from __future__ import annotations

from pathlib import Path

from agents.journey.spec import ActionStep, load_journey_yaml
from cdp.triggers import load_rules
from decisioning.catalog import load_catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _journeys() -> list:
    return [
        load_journey_yaml(p.read_text()) for p in sorted((EXAMPLES / "journeys").glob("*.yaml"))
    ]


def test_every_journey_action_is_in_the_catalog_on_an_allowed_channel() -> None:
    catalog = load_catalog()
    for spec in _journeys():
        for step in spec.steps:
            if isinstance(step, ActionStep):
                for action_id in step.actions or []:
                    action = catalog.get(action_id)
                    assert action is not None, f"{spec.slug}.{step.id}: unknown action {action_id}"
                    if step.channels:
                        assert action.channel in step.channels, f"{spec.slug}.{step.id}"


def test_every_journey_trigger_is_a_rule_that_starts_it() -> None:
    rules = load_rules(EXAMPLES / "triggers.yaml")
    starts = {(r.name, r.journey) for r in rules.triggers}
    for spec in _journeys():
        assert (spec.trigger, spec.slug) in starts, f"{spec.slug}: no rule fires {spec.trigger}"


def test_journey_actions_apply_to_the_triggers_that_start_the_journey() -> None:
    catalog = load_catalog()
    rules = load_rules(EXAMPLES / "triggers.yaml")
    for spec in _journeys():
        triggers = {r.name for r in rules.triggers if r.journey == spec.slug}
        for step in spec.steps:
            if isinstance(step, ActionStep):
                for action_id in step.actions or []:
                    applies = set(catalog.get(action_id).applicability.triggers)
                    assert applies & triggers, (
                        f"{spec.slug}: {action_id} applies to none of {triggers}"
                    )
