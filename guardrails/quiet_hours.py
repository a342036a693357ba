"""Quiet hours in the recipient's local time, with stricter regional windows.

A message outside the window is held until the window next opens (as an aware UTC instant);
an unknown or invalid timezone holds it with no release time, since guessing could wake
someone at 3 a.m.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.clock import as_utc
from core.domain import ProfileView, Verdict
from guardrails.policy import Policy, Window

__all__ = ["local_window", "next_window_start", "quiet_hours_check", "zone_of"]

CHECK = "quiet_hours"


def zone_of(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_window(profile: ProfileView, policy: Policy) -> Window:
    """The first regional window whose rule matches the profile, else the default."""
    facts = {
        "region": str(profile.traits.get("region") or "").upper(),
        "country": str(profile.traits.get("country") or "").upper(),
        "timezone": profile.timezone or "",
    }
    for rule in policy.quiet_hours.regions:
        for key, values in rule.match.items():
            wanted = {v.upper() for v in values} if key != "timezone" else set(values)
            if facts.get(key) and facts[key] in wanted:
                return Window(start=rule.start, end=rule.end)
    return policy.quiet_hours.default


def _instant(day: date, window: Window, zone: ZoneInfo) -> datetime:
    """The UTC instant of `window.start` on local `day` (a skipped DST time moves forward)."""
    naive = datetime.combine(day, window.start)
    return naive.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))


def next_window_start(at: datetime, window: Window, zone: ZoneInfo) -> datetime:
    """The earliest instant >= `at` whose local time is inside `window`."""
    local = as_utc(at).astimezone(zone)
    if window.contains(local.time()):
        return as_utc(at)
    for offset in range(0, 4):
        candidate = _instant(local.date() + timedelta(days=offset), window, zone)
        if candidate >= as_utc(at) and window.contains(candidate.astimezone(zone).time()):
            return candidate
    raise ValueError(f"no opening of {window} within 4 days in {zone.key}")  # pragma: no cover


def quiet_hours_check(
    channel: str, profile: ProfileView | None, now: datetime, policy: Policy
) -> tuple[Verdict, datetime | None]:
    """Allow inside the local window; else hold, with the UTC time the window reopens."""
    if channel not in policy.quiet_hours.channels:
        return Verdict.allow(CHECK), None
    zone = zone_of(profile.timezone if profile else None)
    if profile is None or zone is None:
        return Verdict.hold(CHECK, "timezone_unknown"), None
    window = local_window(profile, policy)
    local = as_utc(now).astimezone(zone)
    if window.contains(local.time()):
        return Verdict.allow(CHECK), None
    until = next_window_start(now, window, zone)
    reason = f"outside_{window.start:%H:%M}-{window.end:%H:%M}_local:{local:%H:%M}"
    return Verdict.hold(CHECK, reason), until
