"""Brand conformance: rule checks plus voice similarity, as a 0..1 score with readable reasons.

Rules: banned phrases, required disclaimers, lengths, GSM-7 for SMS, reading level, shouting,
claims not traceable to the kit. Voice: copy's nearest voice exemplars versus its nearest
anti-exemplars (MiniLM cosine). score = rules_factor * (0.4 + 0.6 * voice) (voice weighs 0.3
for CSM scripts, which a person rephrases); a hard rule failure (banned phrase, untraceable
claim, missing disclaimer, an SMS outside GSM-7 or over 160 septets) fails the check whatever
the score.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from brand.claims import trace_claims
from brand.store import BrandStore

__all__ = [
    "SMS_SEPTETS",
    "ConformanceResult",
    "copy_text",
    "gsm7_septets",
    "reading_grade",
    "score_content",
]

UNSUBSCRIBE_PLACEHOLDER = "{{unsubscribe_url}}"
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)
_GSM7_EXTENSION = set("^{}\\[~]|€")  # sent as escape + char: two septets each
SMS_SEPTETS = 160  # one GSM-7 SMS; longer copy is split and billed as several
_PENALTY = {
    "banned_phrase": 0.5,
    "untraceable_claim": 0.5,
    "missing_disclaimer": 0.4,
    "too_long": 0.25,
    "not_gsm7": 0.25,
    "sms_too_long": 0.25,
    "shouting": 0.3,
    "exclamations": 0.15,
    "reading_level": 0.1,
    "empty": 1.0,
}
# An SMS outside GSM-7 goes out as UCS-2 (70 characters a part) and a long one in several
# parts: either multiplies its cost and can garble it on old handsets, so both are hard.
_HARD = {
    "banned_phrase",
    "untraceable_claim",
    "missing_disclaimer",
    "empty",
    "not_gsm7",
    "sms_too_long",
}
_COPY_FIELDS = ("subject", "preheader", "headline", "title", "body", "text", "script", "cta_text")


@dataclass
class ConformanceResult:
    """Score in 0..1, whether it passes the kit's threshold, and why."""

    score: float
    passed: bool
    reasons: list[str] = field(default_factory=list)
    voice: float = 0.0
    claims: list[str] = field(default_factory=list)
    untraceable_claims: list[str] = field(default_factory=list)


def copy_text(content: dict[str, Any]) -> str:
    """The words a reader sees, minus legal footer lines (scored separately)."""
    parts = [str(content[k]) for k in _COPY_FIELDS if content.get(k)]
    if content.get("body_text") and not content.get("body"):
        parts.append(str(content["body_text"]).split("\n--\n")[0])
    return "\n".join(parts)


def gsm7_septets(text: str) -> int | None:
    """Septets `text` takes in the GSM-7 alphabet, or None when it has a character outside it."""
    if any(ch not in _GSM7 for ch in text):
        return None
    return len(text) + sum(1 for ch in text if ch in _GSM7_EXTENSION)


def _syllables(word: str) -> int:
    groups = re.findall(r"[aeiouy]+", word.lower())
    count = len(groups) - (1 if word.lower().endswith("e") and len(groups) > 1 else 0)
    return max(1, count)


def reading_grade(text: str) -> float:
    """Flesch-Kincaid grade level (0 for empty text)."""
    words = re.findall(r"[A-Za-z']+", text)
    sentences = max(1, len(re.findall(r"[.!?]+", text)) or 1)
    if not words:
        return 0.0
    syllables = sum(_syllables(w) for w in words)
    return 0.39 * len(words) / sentences + 11.8 * syllables / len(words) - 15.59


def _voice(store: BrandStore, text: str) -> float:
    vector = store.embed([text])[0]
    positive = sorted(store.vectors("exemplar") @ vector, reverse=True)[:3]
    negative = float(max(store.vectors("anti_exemplar") @ vector))
    margin = float(sum(positive) / len(positive)) - negative
    return 1.0 / (1.0 + math.exp(-8.0 * margin))


def _rule_failures(
    store: BrandStore, content: dict[str, Any], channel: str, text: str
) -> list[str]:
    kit = store.kit
    full = "\n".join(str(v) for v in content.values() if isinstance(v, str))
    lowered = full.lower()
    reasons = [f"banned_phrase: {p!r}" for p in kit.banned_phrases if p.lower() in lowered]
    for line in kit.disclaimers.get(channel, []) if channel in ("email", "sms") else []:
        if line.lower() not in lowered:
            reasons.append(f"missing_disclaimer: {line!r}")
    if channel == "email":
        if kit.postal_address not in full:
            reasons.append("missing_disclaimer: postal address")
        if UNSUBSCRIBE_PLACEHOLDER not in full and "unsubscribe" not in lowered:
            reasons.append("missing_disclaimer: unsubscribe link")
    for rule, limit in kit.rules.lengths.items():
        rule_channel, _, key = rule.partition(".")
        value = content.get(key)
        if rule_channel == channel and isinstance(value, str) and len(value) > limit:
            reasons.append(f"too_long: {key} has {len(value)} characters, limit {limit}")
    if channel == "sms":
        sms = str(content.get("text", ""))
        septets = gsm7_septets(sms)
        if septets is None:
            outside = sorted({ch for ch in sms if ch not in _GSM7})
            reasons.append(
                "not_gsm7: SMS uses characters outside the GSM-7 alphabet "
                f"({' '.join(repr(ch) for ch in outside[:5])})"
            )
        elif septets > SMS_SEPTETS:
            reasons.append(f"sms_too_long: {septets} GSM-7 characters, one SMS holds {SMS_SEPTETS}")
    codes = {o.code for o in kit.offers}
    shouted = [w for w in re.findall(r"\b[A-Z]{3,}\b", text) if w not in codes and w != "STOP"]
    if len(shouted) >= 2:
        reasons.append(f"shouting: words in capitals ({', '.join(shouted[:3])})")
    if text.count("!") > 1:
        reasons.append(f"exclamations: {text.count('!')} exclamation marks, at most 1")
    grade = reading_grade(text)
    if grade > kit.rules.max_reading_grade:
        reasons.append(f"reading_level: grade {grade:.1f} above {kit.rules.max_reading_grade:g}")
    return reasons


def score_content(store: BrandStore, content: dict[str, Any], channel: str) -> ConformanceResult:
    """Score channel content against the active brand kit."""
    text = copy_text(content)
    if not text.strip():
        return ConformanceResult(0.0, False, ["empty: no copy to score"])
    reasons = _rule_failures(store, content, channel, text)
    traces = trace_claims(store, text)
    untraceable = [s for s, ref in traces if ref is None]
    reasons += [f"untraceable_claim: {s!r}" for s in untraceable]
    factor = 1.0
    for reason in reasons:
        factor *= 1.0 - _PENALTY[reason.split(":", 1)[0]]
    voice = _voice(store, text)
    # A CSM script is guidance a person reads and rephrases, not copy sent as written.
    weight = 0.3 if channel == "csm" else 0.6
    score = round(factor * (1.0 - weight + weight * voice), 4)
    if voice < 0.5:
        reasons.append(f"voice: closer to anti-exemplars than exemplars ({voice:.2f})")
    hard = any(r.split(":", 1)[0] in _HARD for r in reasons)
    passed = not hard and score >= store.kit.rules.conformance_threshold
    return ConformanceResult(
        score=score,
        passed=passed,
        reasons=reasons,
        voice=round(voice, 4),
        claims=sorted({ref for _, ref in traces if ref}),
        untraceable_claims=untraceable,
    )
