"""Consent per channel (incl. CASL implied-consent expiry), global unsubscribes, opt-out words.

A send needs consent on its channel: express (`subscribed`), or implied consent that has not
expired (CASL: 2 years after a purchase, 6 months after an inquiry). A global unsubscribe
(`consent["all"]` unsubscribed, or the `unsubscribed` trait) blocks every outbound channel.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from core.clock import as_utc
from core.domain import ProfileView, Verdict
from guardrails.policy import Policy

__all__ = ["OPT_OUT_WORDS", "consent_check", "opt_out_keyword"]

CHECK = "consent"

# Canonical keyword -> spellings recognised at the start of an inbound message (or alone).
OPT_OUT_WORDS: dict[str, tuple[str, ...]] = {
    "STOP": ("stop", "stopp", "stopall", "stop all", "alto", "arret", "arreter", "basta"),
    "UNSUBSCRIBE": (
        "unsubscribe",
        "unsub",
        "desabonner",
        "desinscribir",
        "desuscribir",
        "abmelden",
        "austragen",
        "cancelar suscripcion",
        "afmelden",
        "disiscrivi",
    ),
    "QUIT": ("quit",),
    "END": ("end", "fin", "ende"),
    "CANCEL": ("cancel", "cancelar", "annuler", "annullare"),
    "REVOKE": ("revoke", "revoquer"),
    "OPT OUT": ("opt out", "optout", "opt-out"),
    "BAJA": ("baja", "darme de baja", "dar de baja"),
}

_SPELLINGS = sorted(
    ((spelling, word) for word, spellings in OPT_OUT_WORDS.items() for spelling in spellings),
    key=lambda pair: -len(pair[0]),
)


def _fold(text: str) -> str:
    """Lower-case, strip accents and punctuation, collapse spaces: 'ARRÊT!' -> 'arret'."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    plain = re.sub(r"[^\w\s-]", " ", plain)
    return re.sub(r"\s+", " ", plain).strip()


def opt_out_keyword(text: str) -> str | None:
    """The canonical opt-out keyword an inbound message asks for, or None.

    Carriers treat a message that *is* a keyword (or starts with one, "STOP please") as an
    opt-out; a keyword inside a sentence ("don't stop the deliveries") is not.

    >>> opt_out_keyword("Arrêt")
    'STOP'
    >>> opt_out_keyword("Please stop sending these") is None
    True
    """
    folded = _fold(text)
    if not folded or len(folded) > 60:
        return None
    for spelling, word in _SPELLINGS:
        if folded == spelling or folded.startswith(spelling + " "):
            return word
    return None


def _since(record: dict[str, Any]) -> datetime | None:
    raw = record.get("since")
    if isinstance(raw, datetime):
        return as_utc(raw)
    if isinstance(raw, str) and raw:
        try:
            return as_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def _globally_unsubscribed(profile: ProfileView) -> bool:
    """A global opt-out record. The `unsubscribed: true` trait is not read here: the CDP folds
    it into an express unsubscribe of every channel at its time (cdp/consent.py), so a later
    express opt-in can win, as the customer meant; the trait itself is never cleared."""
    record = profile.consent.get("all") or profile.consent.get("global") or {}
    return record.get("status") == "unsubscribed"


def consent_check(
    channel: str, profile: ProfileView | None, now: datetime, policy: Policy
) -> Verdict:
    """Allow only when the recipient consented to this channel (and has not opted out)."""
    if channel not in policy.consent.required_channels:
        return Verdict.allow(CHECK)
    if profile is None:
        return Verdict.block(CHECK, "profile_unknown")
    if _globally_unsubscribed(profile):
        return Verdict.block(CHECK, "globally_unsubscribed")
    record = profile.consent.get(channel) or {}
    status = record.get("status", "unknown")
    if status == "subscribed":
        return Verdict.allow(CHECK)
    if status == "unsubscribed":
        return Verdict.block(CHECK, f"unsubscribed:{channel}")
    if status == "implied":
        if channel not in policy.consent.implied_channels:
            return Verdict.block(CHECK, f"express_consent_required:{channel}")
        basis = record.get("basis")
        days = policy.consent.implied_days.get(str(basis))
        since = _since(record)
        if days is None or since is None:
            return Verdict.block(CHECK, f"implied_consent_without_basis:{channel}")
        expires = since + timedelta(days=days)
        if as_utc(now) >= expires:
            return Verdict.block(
                CHECK, f"implied_consent_expired:{channel}:{basis}:{expires.date().isoformat()}"
            )
        return Verdict.allow(CHECK)
    return Verdict.block(CHECK, f"no_consent:{channel}")
