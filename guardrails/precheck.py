"""Suitability pre-checks for decisioning: drop candidates guardrails would stop anyway.

Decisioning filters its candidate actions with these before ranking, so it does not choose an
action that consent, caps, quiet hours or the discount limit would refuse. Each check returns a
non-allow Verdict when the candidate is unsuitable, else None. The full guardrail run still
happens on the final action.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from core.domain import Outcome, ProfileView, Verdict
from guardrails.consent import consent_check
from guardrails.frequency import customer_zone, frequency_check, sends_today
from guardrails.policy import Policy, default_policy
from guardrails.quiet_hours import quiet_hours_check

__all__ = ["ActionSpecLike", "SuitabilityCheck", "suitability_checks"]


class ActionSpecLike(Protocol):
    """What a candidate needs to expose: its channel and offer."""

    @property
    def channel(self) -> str | None: ...

    @property
    def offer(self) -> dict[str, Any]: ...


SuitabilityCheck = Callable[[ProfileView, ActionSpecLike, datetime], Verdict | None]


def _unless_allowed(verdict: Verdict) -> Verdict | None:
    return None if verdict.outcome == Outcome.allow else verdict


def suitability_checks(session: Session, policy: Policy | None = None) -> list[SuitabilityCheck]:
    """Consent, frequency cap, quiet hours and discount limit, as candidate filters."""
    policy = policy or default_policy()
    counts_cache: dict[tuple[str, str], Counter[str]] = {}

    def consent(profile: ProfileView, spec: ActionSpecLike, now: datetime) -> Verdict | None:
        if not spec.channel:
            return None
        return _unless_allowed(consent_check(spec.channel, profile, now, policy))

    def frequency(profile: ProfileView, spec: ActionSpecLike, now: datetime) -> Verdict | None:
        if not spec.channel:
            return None
        key = (profile.customer_id, now.date().isoformat())
        if key not in counts_cache:
            zone = customer_zone(profile)
            counts_cache[key] = sends_today(session, profile.customer_id, now, zone)
        return _unless_allowed(frequency_check(spec.channel, counts_cache[key], policy))

    def quiet_hours(profile: ProfileView, spec: ActionSpecLike, now: datetime) -> Verdict | None:
        if not spec.channel:
            return None
        return _unless_allowed(quiet_hours_check(spec.channel, profile, now, policy)[0])

    def discount_limit(profile: ProfileView, spec: ActionSpecLike, now: datetime) -> Verdict | None:
        pct = float((spec.offer or {}).get("discount_pct") or 0)
        if pct > policy.content.max_discount_pct:
            return Verdict.block(
                "offer_limits", f"discount_over_limit:{pct:g}>{policy.content.max_discount_pct:g}"
            )
        return None

    return [consent, frequency, quiet_hours, discount_limit]
