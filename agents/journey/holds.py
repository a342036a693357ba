"""What a guardrail hold means for a journey step: wait for a time, wait for a resume, or ask.

A hold is never a reason to end a step. One with a release time delays the send (`not_before`);
a kill-switch hold is released by lifting the pause (the outbox row waits, held by the
dispatcher); only a hold that nothing releases by itself (an unknown timezone) needs a person.
"""

from __future__ import annotations

from core.domain import GuardrailReport, Outcome

__all__ = ["KILL_SWITCH", "held_by", "needs_person"]

# The check name guardrails.engine gives a pause (`guardrails.engine.KILL_SWITCH`).
KILL_SWITCH = "kill_switch"


def needs_person(report: GuardrailReport) -> bool:
    """A hold with no release time whose cause is not a pause: a human decides."""
    if report.outcome != Outcome.hold or report.hold_until is not None:
        return False
    return any(v.outcome == Outcome.hold and v.check != KILL_SWITCH for v in report.verdicts)


def held_by(report: GuardrailReport) -> list[str]:
    """`check:reason` of every hold in the report (what the queued message waits for)."""
    return [
        f"{v.check}:{reason}"
        for v in report.verdicts
        if v.outcome == Outcome.hold
        for reason in (v.reasons or [""])
    ]
