"""The last look before a queued message leaves: consent, quiet hours and caps, with reasons.

State changes between enqueue and send (an unsubscribe, a clock past 21:00, a message deferred
from yesterday now due alongside today's), so the dispatcher asks again. The answer is a
`SendCheck`: the plain "send" | "hold" | "block" the dispatcher compares against, carrying the
verdicts behind it so the hold or dead-letter can be recorded with its reasons.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlmodel import Session

from core.domain import Outcome, ProfileView, Verdict
from core.tables import OutboxMessage
from guardrails.consent import consent_check
from guardrails.frequency import (
    customer_zone,
    day_bounds,
    frequency_check,
    lock_customer,
    sends_today,
)
from guardrails.policy import Policy
from guardrails.quiet_hours import quiet_hours_check

__all__ = ["SendCheck", "check_before_send"]

Decision = Literal["send", "hold", "block"]
_UTC = ZoneInfo("UTC")


class SendCheck(str):
    """`send`, `hold` or `block` (a str, so `result == "hold"` works), with the reasons why.

    `verdicts`: every check's verdict; `reasons`: `check:reason` of those that did not allow;
    `hold_until`: when a hold ends by itself (quiet hours open, a new local day), None when it
    does not (an unknown timezone) or for send/block.
    """

    verdicts: tuple[Verdict, ...]
    hold_until: datetime | None

    def __new__(
        cls,
        decision: Decision,
        verdicts: Iterable[Verdict] = (),
        hold_until: datetime | None = None,
    ) -> SendCheck:
        self = super().__new__(cls, decision)
        self.verdicts = tuple(verdicts)
        self.hold_until = hold_until if decision == "hold" else None
        return self

    @property
    def decision(self) -> Decision:
        value = str(self)
        assert value in ("send", "hold", "block")
        return value  # type: ignore[return-value]

    @property
    def reasons(self) -> list[str]:
        return [
            f"{v.check}:{reason}" if reason else v.check
            for v in self.verdicts
            if v.outcome != Outcome.allow
            for reason in (v.reasons or [""])
        ]


def check_before_send(
    session: Session,
    message: OutboxMessage,
    profile: ProfileView | None,
    *,
    now: datetime,
    policy: Policy,
) -> SendCheck:
    """Consent (a block dead-letters the row), quiet hours, then the cap under the customer
    lock, counting every other row due today that was queued before this one (it was counted
    itself when it was queued)."""
    if message.customer_id is None:
        return SendCheck("send")
    consent = consent_check(message.channel, profile, now, policy)
    if consent.outcome == Outcome.block:
        return SendCheck("block", [consent])
    quiet, reopens = quiet_hours_check(message.channel, profile, now, policy)
    verdicts = [consent, quiet]
    if quiet.outcome != Outcome.allow or consent.outcome != Outcome.allow:
        return SendCheck("hold", verdicts, hold_until=reopens)
    lock_customer(session, message.customer_id)
    zone = customer_zone(profile)
    counts = sends_today(session, message.customer_id, now, zone, sending=message)
    cap = frequency_check(message.channel, counts, policy)
    verdicts.append(cap)
    if cap.outcome != Outcome.allow:
        return SendCheck("hold", verdicts, hold_until=day_bounds(now, zone or _UTC)[1])
    return SendCheck("send", verdicts)
