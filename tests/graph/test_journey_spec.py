"""Journey YAML: the examples load, and bad definitions name the field and the reason."""

from __future__ import annotations

import pytest

from agents.journey.spec import JourneySpecError, load_journey_yaml
from tests.graph.factories import EXAMPLES, ONE_STEP


@pytest.mark.parametrize("name", ["cart-abandonment", "winback", "onboarding", "trial-to-paid"])
def test_example_journeys_validate(name: str) -> None:
    spec = load_journey_yaml((EXAMPLES / f"{name}.yaml").read_text())
    assert spec.slug == name
    assert spec.following(spec.steps[-1].id) == "end"


def _errors(text: str) -> dict[str, str]:
    with pytest.raises(JourneySpecError) as info:
        load_journey_yaml(text)
    return {e["field"]: e["reason"] for e in info.value.errors}


def test_bad_duration_and_channel_are_named_by_path() -> None:
    errors = _errors(
        ONE_STEP.replace("channels: [email]", "channels: [fax]")
        + "  - {id: pause, kind: wait, duration: three days}\n"
    )
    assert "unknown channel 'fax'" in errors["steps.0.channels"]
    assert "must look like" in errors["steps.1.duration"]


@pytest.mark.parametrize(
    ("channel", "why"), [("webhook", "no webhook destination"), ("web", "/v1/decide")]
)
def test_channels_a_journey_cannot_send_through_are_refused(channel: str, why: str) -> None:
    errors = _errors(ONE_STEP.replace("channels: [email]", f"channels: [email, {channel}]"))
    reason = errors["steps.0.channels"]
    assert f"channel {channel!r} cannot be used in a journey" in reason and why in reason
    assert "email, sms, push, csm, audience" in reason


def test_branch_to_unknown_step_is_refused() -> None:
    text = ONE_STEP + (
        "  - id: split\n    kind: branch\n    default: nowhere\n"
        "    rules: [{when: {field: goal_reached, value: true}, goto: hello}]\n"
    )
    errors = _errors(text)
    assert "unknown step 'nowhere'" in errors["steps.1.default"]


def test_missing_fields_and_unknown_keys_are_listed() -> None:
    errors = _errors("slug: x\nsteps: []\ncolour: red\n")
    assert set(errors) >= {"name", "trigger", "steps", "colour"}


def test_not_yaml_mapping_is_refused() -> None:
    assert "<root>" in _errors("- just\n- a list\n")


def test_example_folder_is_stored_once_and_changed_text_needs_a_new_version(
    sqlite_engine: object,
) -> None:
    from agents.journey.store import save_journey, save_journeys_in
    from core.db import session_scope

    with session_scope(sqlite_engine) as session:  # type: ignore[arg-type]
        first = save_journeys_in(session, EXAMPLES, actor="test")
        again = save_journeys_in(session, EXAMPLES, actor="test")
        assert [j.id for j in first] == [j.id for j in again] and len(first) == 4
        changed = (EXAMPLES / "winback.yaml").read_text().replace("3d", "4d")
        with pytest.raises(ValueError, match="bump `version`"):
            save_journey(session, changed, actor="test")
