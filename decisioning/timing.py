"""Send-time and channel choice from a customer's own activity, with fallbacks when data is thin.

Send time: the customer's most active local hour (computed `active_hours`: a 24-list or an
{hour: count} map of past activity) when there are at least `MIN_EVENTS` events, else now
(quiet hours still apply at send time); the timezone is the profile's, else UTC. Channel: the
best smoothed engagement rate across channels (computed `engagement`: {channel: {sent,
opened|clicked}}), else the CDP's `preferred_channel`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.clock import as_utc
from core.domain import ProfileView

__all__ = [
    "DEFAULT_HOUR",
    "MIN_EVENTS",
    "best_send_hour",
    "best_send_time",
    "preferred_channel",
    "send_time",
]

DEFAULT_HOUR = 10
MIN_EVENTS = 5
MIN_SENDS = 3


def _zone(profile: ProfileView) -> ZoneInfo:
    try:
        return ZoneInfo(profile.timezone) if profile.timezone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _hour_counts(raw: Any) -> list[float]:
    counts = [0.0] * 24
    if isinstance(raw, list) and len(raw) == 24:
        counts = [float(v) if isinstance(v, int | float) else 0.0 for v in raw]
    elif isinstance(raw, dict):
        for key, value in raw.items():
            if str(key).isdigit() and 0 <= int(key) < 24 and isinstance(value, int | float):
                counts[int(key)] = float(value)
    return counts


def best_send_hour(profile: ProfileView) -> tuple[int, str]:
    """(local hour, why): the most active hour, or the default when history is thin."""
    counts = _hour_counts(profile.computed.get("active_hours"))
    if sum(counts) < MIN_EVENTS:
        return DEFAULT_HOUR, f"fewer than {MIN_EVENTS} timed events: default {DEFAULT_HOUR}:00"
    hour = max(range(24), key=lambda h: (counts[h], -abs(h - DEFAULT_HOUR)))
    return hour, f"most active local hour ({int(counts[hour])} of {int(sum(counts))} events)"


def send_time(profile: ProfileView, now: datetime) -> tuple[datetime, str]:
    """(when, why): the next start of the customer's best local hour at or after `now`.

    With too little history to know a best hour, the answer is `now`: delaying a message to an
    arbitrary default hour would only make a timely one (a cart reminder) late; quiet hours
    still apply at send time. `why` is what the decision explanation stores.
    """
    counts = _hour_counts(profile.computed.get("active_hours"))
    total = int(sum(counts))
    if total < MIN_EVENTS:
        why = f"fewer than {MIN_EVENTS} timed events ({total}): send now, quiet hours apply"
        return as_utc(now), why
    hour, _ = best_send_hour(profile)
    zone = _zone(profile)
    why = f"most active local hour {hour:02d}:00 {zone.key} ({int(counts[hour])} of {total} events)"
    local_now = as_utc(now).astimezone(zone)
    if local_now.hour == hour:
        return as_utc(now), why + ": now"
    target = local_now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= local_now:
        target = (target + timedelta(days=1)).replace(hour=hour)
    return as_utc(target), why


def best_send_time(profile: ProfileView, now: datetime) -> datetime:
    """The send time of `send_time` without its reason."""
    return send_time(profile, now)[0]


def preferred_channel(profile: ProfileView) -> tuple[str | None, str]:
    """(channel or None, why) from engagement rates (Beta(1, 1)-smoothed), else the CDP trait."""
    engagement = profile.computed.get("engagement")
    best: tuple[float, str] | None = None
    if isinstance(engagement, dict):
        for channel, stats in engagement.items():
            if not isinstance(stats, dict):
                continue
            sent = float(stats.get("sent", 0) or 0)
            engaged = float(stats.get("clicked", stats.get("opened", 0)) or 0)
            if sent >= MIN_SENDS:
                rate = (engaged + 1) / (sent + 2)
                if best is None or rate > best[0]:
                    best = (rate, str(channel))
    if best is not None:
        return best[1], f"highest engagement rate {best[0]:.2f}"
    trait = profile.computed.get("preferred_channel")
    if isinstance(trait, str):
        return trait, "profile preferred_channel"
    return None, "no engagement history"
