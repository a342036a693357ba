"""The unified profile: traits, consent, timezone/locale and computed traits per customer.

`apply_to_profile` folds one event in (called by the pipeline in the event's transaction);
`get_profile_view` is what decisioning, guardrails and the API read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from cdp.consent import apply_event_consent, consent_view, merge_consent
from cdp.identity import normalise_email, normalise_phone, resolve_customer_id
from cdp.traits import apply_event, derive, public_traits
from core.clock import as_utc, utcnow
from core.domain import ProfileView
from core.tables import Event, Identity, Profile

__all__ = [
    "TRAIT_ALIASES",
    "TRAIT_STAMPS",
    "apply_to_profile",
    "get_profile_view",
    "merge_profiles",
    "recompute",
]

# Segment's reserved traits are camelCase; profiles keep snake_case names.
TRAIT_ALIASES = {
    "firstName": "first_name",
    "lastName": "last_name",
    "createdAt": "created_at",
    "phoneNumber": "phone",
}


def _clean_traits(traits: dict[str, Any]) -> dict[str, Any]:
    """snake_case names; email lower-cased and phone in E.164 where they can be read."""
    out = {TRAIT_ALIASES.get(k, k): v for k, v in traits.items()}
    if "email" in out and (email := normalise_email(out["email"])):
        out["email"] = email
    if "phone" in out and (phone := normalise_phone(out["phone"])):
        out["phone"] = phone
    return out


@dataclass
class ProfileState:
    """A profile while a processing batch folds events into it (written back once per batch)."""

    customer_id: str
    traits: dict[str, Any] = field(default_factory=dict)
    computed: dict[str, Any] = field(default_factory=dict)
    consent: dict[str, Any] = field(default_factory=dict)
    timezone: str | None = None
    locale: str | None = None
    updated_at: datetime | None = None
    version: int = 0
    stored: bool = False

    FIELDS = ("traits", "computed", "consent", "timezone", "locale", "updated_at", "version")

    @classmethod
    def of_row(cls, row: Any) -> ProfileState:
        return cls(row.customer_id, **{f: getattr(row, f) for f in cls.FIELDS}, stored=True)

    def values(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.FIELDS}


# Per trait, the (event time, messageId) of the value kept: a trait is last-writer-wins by event
# time, so an older identify processed late does not overwrite a newer value. Kept among the
# computed bookkeeping keys; `@timezone` / `@locale` stamp the profile's timezone and locale.
TRAIT_STAMPS = "_trait_at"
Stamp = list[str]


def _stamps(computed: dict[str, Any]) -> dict[str, Stamp]:
    return dict(computed.get(TRAIT_STAMPS) or {})


def _newer(stamps: dict[str, Stamp], key: str, stamp: Stamp) -> bool:
    """True when `stamp` beats the stamp kept for `key` (none kept: anything beats it)."""
    kept = stamps.get(key)
    return kept is None or list(kept) < stamp


def apply_to_profile(profile: Profile | ProfileState, event: Event) -> list[str]:
    """Fold `event` into `profile` in place; returns the consent channels that changed.

    The result does not depend on the order events are folded in (docs/cdp.md, "Processing").
    """
    stamp: Stamp = [as_utc(event.timestamp).isoformat(), str(event.message_id)]
    stamps = _stamps(profile.computed)
    traits = _clean_traits({**(event.context.get("traits") or {}), **event.traits})
    if traits:
        kept = dict(profile.traits)
        for key, value in traits.items():
            if _newer(stamps, key, stamp):
                kept[key], stamps[key] = value, stamp
        profile.traits = kept
    tz = event.context.get("timezone") or traits.get("timezone")
    if isinstance(tz, str) and tz and _newer(stamps, "@timezone", stamp):
        profile.timezone, stamps["@timezone"] = tz[:64], stamp
    locale = event.context.get("locale") or traits.get("locale")
    if isinstance(locale, str) and locale and _newer(stamps, "@locale", stamp):
        profile.locale, stamps["@locale"] = locale[:32], stamp
    consent = dict(profile.consent)
    changed = apply_event_consent(consent, event)
    profile.consent = consent
    computed = apply_event(profile.computed, event)
    if stamps:
        computed[TRAIT_STAMPS] = stamps
    profile.computed = derive(computed, datetime.fromisoformat(computed["last_seen"]))
    profile.updated_at = utcnow()
    profile.version += 1
    return changed


def recompute(session: Session, profile: Profile) -> None:
    """Rebuild computed traits from every stored event of the customer (after a merge).

    The trait stamps are not a fold of computed events; they are kept as they are.
    """
    events = session.exec(
        select(Event)
        .where(Event.customer_id == profile.customer_id, col(Event.processed_at).is_not(None))
        .order_by(col(Event.timestamp), col(Event.id))
    ).all()
    computed: dict[str, Any] = {}
    for event in events:
        computed = apply_event(computed, event)
    stamps = _stamps(profile.computed)
    if computed:
        computed = derive(computed, datetime.fromisoformat(computed["last_seen"]))
    if stamps:
        computed[TRAIT_STAMPS] = stamps
    profile.computed = computed


def _merge_traits(kept: Profile, gone: Profile) -> dict[str, Any]:
    """Traits, timezone and locale of two merged profiles, the later-stamped value winning
    (the survivor's on a tie or where neither is stamped); returns the values that lost.

    Last-writer-wins here too, so that a merge gives what processing the loser's events
    into the survivor would have given.
    """
    mine, theirs = _stamps(kept.computed), _stamps(gone.computed)
    traits, stamps = dict(kept.traits), dict(mine)
    overridden: dict[str, Any] = {}
    for key, value in gone.traits.items():
        if key not in traits or (key in theirs and _newer(mine, key, list(theirs[key]))):
            if key in traits and traits[key] != value:
                overridden[key] = traits[key]  # the survivor's value lost
            traits[key] = value
            if key in theirs:
                stamps[key] = theirs[key]
        elif traits[key] != value:
            overridden[key] = value
    for key, attr in (("@timezone", "timezone"), ("@locale", "locale")):
        value = getattr(gone, attr)
        if value and (
            not getattr(kept, attr) or (key in theirs and _newer(mine, key, list(theirs[key])))
        ):
            setattr(kept, attr, value)
            if key in theirs:
                stamps[key] = theirs[key]
    kept.traits = traits
    kept.computed = {**kept.computed, TRAIT_STAMPS: stamps} if stamps else kept.computed
    return overridden


def merge_profiles(session: Session, *, loser: str, survivor: str) -> dict[str, Any]:
    """Fold the loser's profile into the survivor's; returns the trait values that lost.

    Traits: the later value by event time wins (the survivor's on a tie); the overridden values
    go into the merge's audit entry. Consent keeps any unsubscribe; computed traits are rebuilt
    from both customers' events.
    """
    gone = session.get(Profile, loser, with_for_update=True)
    if gone is None:
        return {}
    kept = session.get(Profile, survivor, with_for_update=True) or Profile(customer_id=survivor)
    overridden = _merge_traits(kept, gone)
    kept.consent = merge_consent(kept.consent, gone.consent)
    kept.version += 1
    session.add(kept)
    session.delete(gone)
    session.flush()
    from sqlalchemy import update

    session.execute(
        update(Event).where(col(Event.customer_id) == loser).values(customer_id=survivor)
    )
    recompute(session, kept)
    session.add(kept)
    return overridden


def get_profile_view(
    session: Session, customer_id: str, *, as_of: datetime | None = None
) -> ProfileView | None:
    """The profile of a customer named by canonical id or any known identifier.

    Time-dependent traits are derived as of `as_of` (default: now). None when unknown.
    """
    canonical = resolve_customer_id(session, customer_id)
    if canonical is None:
        return None
    profile = session.get(Profile, canonical)
    identities: dict[str, list[str]] = {}
    for row in session.exec(
        select(Identity).where(Identity.customer_id == canonical).order_by(col(Identity.id))
    ):
        identities.setdefault(row.kind, []).append(row.value)
    if profile is None:
        return ProfileView(customer_id=canonical, identities=identities, consent=consent_view({}))
    traits = dict(profile.traits)
    for kind in ("email", "phone"):
        if kind not in traits and identities.get(kind):
            traits[kind] = identities[kind][0]
    computed = (
        public_traits(derive(profile.computed, as_utc(as_of or utcnow())))
        if profile.computed
        else {}
    )
    return ProfileView(
        customer_id=canonical,
        traits=traits,
        computed=computed,
        consent=consent_view(profile.consent),
        timezone=profile.timezone,
        locale=profile.locale,
        identities=identities,
    )
