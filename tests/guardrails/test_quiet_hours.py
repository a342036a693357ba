"""Quiet hours: regional windows, unknown timezones, and a property test over all zones."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.domain import Outcome
from guardrails.policy import Window, default_policy
from guardrails.quiet_hours import local_window, quiet_hours_check
from tests.guardrails.factories import profile

POLICY = default_policy()
ZONES = sorted(available_timezones())


def test_unknown_or_invalid_timezone_holds_without_release() -> None:
    for tz in (None, "Mars/Olympus_Mons"):
        verdict, until = quiet_hours_check("sms", profile(timezone=tz), datetime.now(UTC), POLICY)
        assert verdict.outcome == Outcome.hold and verdict.reasons == ["timezone_unknown"]
        assert until is None


def test_florida_and_france_get_the_stricter_8_to_20_window() -> None:
    assert local_window(profile(traits={"region": "US-FL"}), POLICY).end == time(20)
    assert local_window(profile(timezone="Europe/Paris", traits={}), POLICY).end == time(20)
    assert local_window(profile(), POLICY).end == time(21)
    # 20:30 in Miami: fine in New York rules, held under Florida's.
    at = datetime(2026, 6, 2, 0, 30, tzinfo=UTC)
    verdict, _ = quiet_hours_check("sms", profile(traits={"region": "US-FL"}), at, POLICY)
    assert verdict.outcome == Outcome.hold


def test_webhooks_ignore_quiet_hours() -> None:
    at = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # 03:00 New York
    assert quiet_hours_check("webhook", profile(), at, POLICY)[0].outcome == Outcome.allow


def test_spring_forward_night_releases_at_8_local() -> None:
    # New York skips 02:00-03:00 on 2026-03-08; a message at 01:30 EST waits for 08:00 EDT.
    at = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    verdict, until = quiet_hours_check("sms", profile(), at, POLICY)
    assert verdict.outcome == Outcome.hold
    assert until == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
)
# Bias towards DST edges: the hours around the usual change-over instants.
dst_edges = st.builds(
    lambda year, month, day, minutes: (
        datetime(year, month, day, tzinfo=UTC) + timedelta(minutes=minutes)
    ),
    st.integers(2000, 2037),
    st.sampled_from([3, 4, 9, 10, 11]),
    st.integers(1, 28),
    st.integers(0, 24 * 60 - 1),
)


@settings(max_examples=600, deadline=None)
@given(
    now=st.one_of(instants, dst_edges),
    tz=st.sampled_from(ZONES),
    channel=st.sampled_from(["email", "sms", "push", "csm"]),
    region=st.sampled_from([None, "US-FL", "FR"]),
)
def test_no_send_ever_happens_outside_the_local_window(
    now: datetime, tz: str, channel: str, region: str | None
) -> None:
    """Send now if allowed, else at the hold's release time: the local time is in the window."""
    p = profile(timezone=tz, traits={"region": region} if region else {})
    window = local_window(p, POLICY)
    verdict, until = quiet_hours_check(channel, p, now, POLICY)
    send_at = now if verdict.outcome == Outcome.allow else until
    assert send_at is not None
    assert send_at >= now
    assert send_at - now < timedelta(days=2)
    local = send_at.astimezone(ZoneInfo(tz)).time()
    assert window.start <= local < window.end, (tz, now, send_at, local)
    # And the release time is itself allowed when checked again.
    assert quiet_hours_check(channel, p, send_at, POLICY)[0].outcome == Outcome.allow


def test_a_window_across_midnight_allows_the_evening_and_holds_until_it_opens() -> None:
    night = POLICY.model_copy(
        update={
            "quiet_hours": POLICY.quiet_hours.model_copy(
                update={"default": Window(start=time(20), end=time(2))}
            )
        }
    )
    ny = profile(timezone="America/New_York", traits={})
    late = datetime(2026, 3, 4, 4, 30, tzinfo=UTC)  # 23:30 in New York: inside
    noon = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)  # 12:00: outside, opens at 20:00
    verdict, until = quiet_hours_check("sms", ny, late, night)
    assert verdict.outcome == Outcome.allow and until is None
    verdict, until = quiet_hours_check("sms", ny, noon, night)
    assert verdict.outcome == Outcome.hold
    assert until == datetime(2026, 3, 5, 1, 0, tzinfo=UTC)  # 20:00 New York (EST)


def test_an_empty_window_is_refused_when_the_policy_is_read() -> None:
    with pytest.raises(ValidationError, match="allows nothing"):
        Window(start=time(9), end=time(9))
