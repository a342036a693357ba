"""Personal data in text: emails, phone numbers, payment cards, IBANs, SSNs, street addresses.

Outbound content may carry the recipient's own contact details, nobody else's: anything found
that is not the recipient's is a leak (often a sign the model copied another customer's data).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

from core.domain import PlannedAction, ProfileView, Verdict
from guardrails.text import all_text, plain

__all__ = ["PiiHit", "find_pii", "pii_check"]

CHECK = "pii"

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"\b(?:\d[ .-]?){12,18}\d\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}\b")
# National formats are read as these regions' numbers (US customers, the UK brand); numbers
# written with a + country code are found for every region below.
PHONE_REGIONS = ("US", "GB")
_STREET_WORDS = (
    r"street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|way|place|pl|"
    r"terrace|parkway|pkwy|circle|cir|highway|hwy|square|sq|trail|row|close|crescent"
)
_ADDRESS = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][\w'.-]*\s+){{1,4}}(?:{_STREET_WORDS})\b\.?"
    r"|\bP\.?\s?O\.?\s+Box\s+\d+"
    r"|\b(?:Rue|Avenida|Avenue|Calle|Via|Viale|Rua|Strada|Plaza|Piazza)\s+(?:[\w'.-]+\s+){0,4}\d{1,5}\b"
    r"|\b[A-Z][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|allee|platz|laan|gade|vej|gatan|veien)"
    r"\s+\d{1,5}\b"
    r"|\b\d{1,5}\s+(?:rue|quai|chemin|allée|allee|impasse|calle|via|rua)\s+[\w'.-]+"
    # Street and number, then ", City POSTCODE" (most European formats).
    r"|\b[A-ZÀ-Ž][\w'.-]+(?:\s+[\w'.-]+){0,2}\s+\d{1,5}[a-z]?,\s+[A-ZÀ-Ž][\w'.-]+"
    r"(?:\s+[\w'.-]+){0,2}\s+[A-Z]{0,2}-?\d[\d ]{2,6}\b"
    # Number and street, then ", City POSTCODE".
    r"|\b\d{1,5}\s+[\w'.-]+(?:\s+[\w'.-]+){0,3},\s+[A-ZÀ-Ž][\w'.-]+(?:\s+[\w'.-]+){0,2}"
    r"\s+(?:[A-Z]{1,2}\d[\dA-Z]?\s?\d[A-Z]{2}|[A-Z]\d[A-Z]\s?\d[A-Z]\d|\d{4,5}(?:-\d{3,4})?)\b",
    re.I,
)


@dataclass(frozen=True)
class PiiHit:
    kind: str
    value: str


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _iban_ok(raw: str) -> bool:
    code = raw.replace(" ", "")
    rearranged = code[4:] + code[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return 15 <= len(code) <= 34 and number % 97 == 1


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def find_pii(text: str) -> list[PiiHit]:
    """Every personal identifier found in `text`, with its kind."""
    text = plain(text)
    hits = [PiiHit("email", m.group(0).lower()) for m in _EMAIL.finditer(text)]
    cards = set()
    for m in _CARD.finditer(text):
        digits = _digits(m.group(0))
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            cards.add(digits)
            hits.append(PiiHit("credit_card", digits))
    hits += [
        PiiHit("iban", m.group(0).replace(" ", ""))
        for m in _IBAN.finditer(text)
        if _iban_ok(m.group(0))
    ]
    hits += [PiiHit("ssn", m.group(0)) for m in _SSN.finditer(text)]
    hits += [PiiHit("address", m.group(0)) for m in _ADDRESS.finditer(text)]
    phones: set[str] = set()
    for region in PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.VALID
        ):
            digits = _digits(match.raw_string)
            if digits not in cards and digits[-10:] not in phones:
                phones.add(digits[-10:])
                hits.append(PiiHit("phone", digits[-10:]))
    for m in re.finditer(r"\+\d[\d ()./-]{7,18}\d", text):  # international, any region
        digits = _digits(m.group(0))
        if digits not in cards and not any(
            h.kind == "phone" and digits.endswith(h.value) for h in hits
        ):
            hits.append(PiiHit("phone", digits[-10:]))
    return hits


def _own(profile: ProfileView | None, action: PlannedAction) -> set[str]:
    mine: set[str] = set()
    for value in (
        action.recipient,
        profile.email if profile else None,
        profile.phone if profile else None,
    ):
        if value:
            mine.add(value.lower())
            if _digits(value):
                mine.add(_digits(value)[-10:])
    if profile is not None:
        for values in profile.identities.values():
            for value in values:
                mine.add(value.lower())
                if len(_digits(value)) >= 7:
                    mine.add(_digits(value)[-10:])
        address = profile.traits.get("address")
        if isinstance(address, str):
            mine.add(address.lower())
    return mine


def pii_check(
    action: PlannedAction, profile: ProfileView | None, *, allowed: Iterable[str] = ()
) -> Verdict:
    """Block content that carries someone else's personal data (`allowed`: the sender's own)."""
    mine = _own(profile, action) | {a.lower() for a in allowed if a}
    leaks = []
    for hit in find_pii(all_text(action.content)):
        value = hit.value.lower()
        if value in mine or any(value in own for own in mine if hit.kind == "address"):
            continue
        leaks.append(f"pii_of_other:{hit.kind}")
    return Verdict.block(CHECK, *dict.fromkeys(leaks)) if leaks else Verdict.allow(CHECK)
