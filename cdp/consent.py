"""Per-channel consent and subscription state, derived from events and explicit opt-outs.

Shape per channel (core.domain.ProfileView): {"status": subscribed|unsubscribed|implied|unknown,
"basis": express|purchase|inquiry|None, "since": ISO time or None}. Express choices (identify
traits, Subscribed/Unsubscribed events, opt-out keywords in inbound messages) always beat
implied consent; a purchase only gives implied consent (CASL "existing business
relationship", dated by the purchase) where the customer has not chosen either way. Among
express choices the later one (event time) wins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from core import audit
from core.clock import as_utc, utcnow
from core.tables import Event, Profile
from guardrails.consent import opt_out_keyword

__all__ = [
    "CONSENT_CHANNELS",
    "apply_event_consent",
    "apply_opt_out",
    "consent_view",
    "merge_consent",
]

CONSENT_CHANNELS = ("email", "sms", "push")
_OPT_IN_TRAITS = {"email_opt_in": "email", "sms_opt_in": "sms", "push_opt_in": "push"}
_IMPLIED_BY_PURCHASE = ("email", "sms")
UNKNOWN: dict[str, Any] = {"status": "unknown", "basis": None, "since": None}
INBOUND_MESSAGE_EVENTS = ("Inbound Message Received", "SMS Received", "Message Received")


def _express(consent: dict[str, Any], channel: str, subscribed: bool, at: datetime) -> bool:
    """Record an express choice unless a later express choice is already there.

    The latest express choice by event time wins and `since` is its time, whatever order the
    events are processed in; at the same time an unsubscribe beats a subscribe (the safer
    reading). Returns whether the channel's status or basis changed.
    """
    current = consent.get(channel) or UNKNOWN
    since, at_iso = current.get("since"), at.isoformat()
    status = "subscribed" if subscribed else "unsubscribed"
    if current.get("basis") == "express" and since:
        if since > at_iso:
            return False
        if since == at_iso and (
            current.get("status") == "unsubscribed" or status == current["status"]
        ):
            return False
    consent[channel] = {"status": status, "basis": "express", "since": at_iso}
    return current.get("status") != status or current.get("basis") != "express"


def apply_event_consent(consent: dict[str, Any], event: Event) -> list[str]:
    """Update `consent` in place from one event; returns the channels whose state changed."""
    at = as_utc(event.timestamp)
    changed: list[str] = []
    if event.type == "identify":
        for trait, channel in _OPT_IN_TRAITS.items():
            value = event.traits.get(trait)
            if isinstance(value, bool) and _express(consent, channel, value, at):
                changed.append(channel)
        if event.traits.get("unsubscribed") is True:
            changed += [c for c in CONSENT_CHANNELS if _express(consent, c, False, at)]
    elif event.type == "track" and event.event in ("Subscribed", "Unsubscribed"):
        channel = str(event.properties.get("channel") or "email")
        if _express(consent, channel, event.event == "Subscribed", at):
            changed.append(channel)
    elif event.type == "track" and event.event in INBOUND_MESSAGE_EVENTS:
        # A reply such as STOP, ARRET or BAJA is an opt-out from the channel it came on.
        channel = str(event.properties.get("channel") or "sms")
        text = str(event.properties.get("text") or event.properties.get("body") or "")
        if opt_out_keyword(text) and _express(consent, channel, False, at):
            changed.append(channel)
    elif event.type == "track" and event.event == "Order Completed":
        for channel in _IMPLIED_BY_PURCHASE:
            current = consent.get(channel) or UNKNOWN
            if current["status"] in ("unknown", "implied") and (
                current.get("since") is None or current["since"] < at.isoformat()
            ):
                consent[channel] = {
                    "status": "implied",
                    "basis": "purchase",
                    "since": at.isoformat(),
                }
    return changed


def merge_consent(survivor: dict[str, Any], loser: dict[str, Any]) -> dict[str, Any]:
    """Consent of two merged profiles: an unsubscribe on either side is kept (most restrictive)."""
    out = dict(survivor)
    for channel, state in loser.items():
        mine = out.get(channel) or UNKNOWN
        if state.get("status") == "unsubscribed" or mine.get("status") == "unknown":
            out[channel] = state
    return out


def consent_view(consent: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every consent channel in the documented shape, `unknown` where nothing is recorded."""
    return {c: dict(consent.get(c) or UNKNOWN) for c in CONSENT_CHANNELS} | {
        c: dict(v) for c, v in consent.items() if c not in CONSENT_CHANNELS
    }


def apply_opt_out(session: Session, customer_id: str, channel: str, reason: str) -> None:
    """Unsubscribe one customer from one channel now (e.g. an inbound STOP), audited.

    Accepts any known id; the caller commits. Raises LookupError for an unknown customer.
    """
    from cdp.identity import resolve_customer_id

    canonical = resolve_customer_id(session, customer_id)
    if canonical is None:
        raise LookupError(f"unknown customer {customer_id!r}")
    profile = session.get(Profile, canonical) or Profile(customer_id=canonical)
    consent = dict(profile.consent)
    now = utcnow()
    consent[channel] = {"status": "unsubscribed", "basis": "express", "since": now.isoformat()}
    profile.consent = consent
    profile.updated_at = now
    profile.version += 1
    session.add(profile)
    audit.append(
        session,
        actor="cdp",
        kind="consent.opt_out",
        subject_type="customer",
        subject_id=canonical,
        customer_id=canonical,
        payload={"channel": channel, "reason": reason},
    )
    session.flush()
