"""Tool arguments from a request's words, and repair of arguments a model proposed.

Typed slots (customer ids, channels, segments, scopes, day windows, ids) are read with rules:
a small model copies ids badly and a rule cannot hallucinate. Free-text slots (a journey's
goal, an action's name) are phrases cut from the request. `repair` then reconciles a model's
proposal with the schema: unknown keys dropped, enum values mapped to the nearest allowed one,
missing required values filled from the request.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from pydantic import ValidationError

from tools.chat.registry import ToolSpec

__all__ = ["Known", "extract", "repair"]

_CHANNELS = {
    "sms": r"\b(sms|texts?|text messages?|texting)\b",
    "email": r"\b(e-?mails?|newsletters?)\b",
    "push": r"\b(push( notifications?)?|app notifications?)\b",
    "webhook": r"\bwebhooks?\b",
    "audience": r"\b(ad audiences?|audiences?|ads)\b",
    "csm": r"\b(csm|calls?|phone calls?)\b",
    "web": r"\b(web|banners?|website|site)\b",
}
_SEGMENTS = (  # order matters: most specific first
    (
        "lapsed_vip",
        r"\b(lapsed|inactive|dormant)\b.*\b(vips?|top[- ]tier)\b"
        r"|\b(vips?)\b.*\b(lapsed|inactive|dormant)\b",
    ),
    ("at_risk", r"\b(churn\w*|at[- ]risk|risk of (leaving|churn\w*)|likely to leave)\b"),
    ("cart_abandoners", r"\b(carts?|baskets?|abandon\w*)\b"),
    ("lapsed", r"\b(lapsed|inactive|dormant|haven'?t (bought|ordered)|no orders?)\b"),
    ("vip", r"\b(vips?|top[- ]tier|high[- ]value|best customers)\b"),
    ("new", r"\b(new|first[- ]time|recent sign-?ups?|newly)\b"),
    ("active", r"\b(active|engaged|recent buyers)\b"),
)
_STOP_TAIL = r"(?:\s+(?:for|to|on|of) (?:customer|user)\b.*)?[?.!]*\s*$"


@dataclass(frozen=True)
class Known:
    """Names the request may refer to: journey slugs and catalog action ids."""

    journeys: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _norm(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.lower()).strip()


def customer_id(text: str) -> str | None:
    if m := re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text):
        return m.group(0)
    if m := re.search(
        r"\b(?:customer|user|client|shopper)\s*(?:id\s*)?(?:no\.?\s*|number\s*)?#?([A-Za-z0-9_-]*\d[A-Za-z0-9_-]*)",
        text,
        re.I,
    ):
        return m.group(1)
    if m := re.search(r"#(\d+)\b|\b(\d{3,})\b", text):
        return m.group(1) or m.group(2)
    return None


def channel(text: str) -> str | None:
    low = text.lower()
    hits = [(m.start(), ch) for ch, rx in _CHANNELS.items() if (m := re.search(rx, low))]
    return min(hits)[1] if hits else None


def segment(text: str) -> str | None:
    low = text.lower()
    return next((name for name, rx in _SEGMENTS if re.search(rx, low)), None)


def journey(text: str, known: Known) -> str | None:
    low = _norm(text)
    for slug in sorted(known.journeys, key=len, reverse=True):
        if re.search(rf"\b{re.escape(_norm(slug))}\b", low):
            return slug
    if m := re.search(r"\b(?:the\s+)?([\w-]+)\s+journey\b", text.lower()):
        guess = m.group(1)
        if guess not in {"the", "a", "this", "that", "new", "proposed", "drafted", "each", "our"}:
            close = get_close_matches(guess, list(known.journeys), n=1, cutoff=0.6)
            return close[0] if close else guess
    words = {"proposal", "proposals", "draft", "drafts", "version", "that"}
    m = re.search(r"\bjourney\s+([a-z0-9][\w-]+)", text.lower())
    if m and m.group(1) not in words:
        return m.group(1)
    return None


def days(text: str) -> int | None:
    low = text.lower()
    if m := re.search(
        r"\b(?:last|past)\s+(\d+)\s*(day|week|month)s?\b|\b(\d+)\s*(day|week|month)s?\b", low
    ):
        n = int(m.group(1) or m.group(3))
        return n * {"day": 1, "week": 7, "month": 30}[m.group(2) or m.group(4)]
    for words, n in (
        (r"\b(this|last|past) week\b|\bweekly\b", 7),
        (r"\btoday\b|\byesterday\b", 1),
        (r"\b(this|last|past) month\b", 30),
        (r"\b(this|last|past) quarter\b", 90),
    ):
        if re.search(words, low):
            return n
    return None


def limit(text: str) -> int | None:
    if m := re.search(
        r"\b(?:top|first|show|list|give me)\s+(\d{1,3})\b"
        r"|\b(\d{1,3})\s+(?:\w+\s+)?(?:customers|people|shoppers|reviews|vips)\b",
        text.lower(),
    ):
        return int(m.group(1) or m.group(2))
    return None


def review_id(text: str) -> str | None:
    if m := re.search(
        r"\breview\s*(?:id\s*|number\s*|no\.?\s*)?#?([0-9a-f]*\d[0-9a-f]*)\b", text.lower()
    ):
        return m.group(1)
    if m := re.search(r"\b(?:message|item|action)\s+#?([0-9a-f]*\d[0-9a-f]*)\b", text.lower()):
        return m.group(1)
    return None


def note(text: str) -> str | None:
    if m := re.search(
        r"\b(?:because|since|reason:?|note:?)\s+(.+?)[.!]*$|,\s*(.+?)[.!]*$", text, re.I
    ):
        found = (m.group(1) or m.group(2) or "").strip()
        if found and not re.fullmatch(r"(send it|please|thanks?)", found.lower()):
            return found
    return None


def offer(text: str) -> str | None:
    if m := re.search(r"(\d{1,2})\s*%", text):
        return f"{m.group(1)}%"
    if m := re.search(
        r"\b(free shipping|cart reminder|win-?back|push nudge|welcome)\b", text.lower()
    ):
        return m.group(1)
    return None


def action_phrase(text: str) -> str | None:
    rx = (
        r"\b(?:creative|copy|content|message|preview|text|draft|wording)\s+(?:of|for)\s+"
        r"(?:the\s+|our\s+|a\s+)?(.+?)" + _STOP_TAIL
    )
    m = re.search(rx, text, re.I) or re.search(
        r"\b(?:preview|see|show(?: me)?)\s+(?:the\s+|our\s+)?(.+?)" + _STOP_TAIL, text, re.I
    )
    m = m or re.search(
        r"\b(?:would|does|will)\s+(?:the\s+|our\s+)?(.+?)\s+(?:say|look like|read)\b", text, re.I
    )
    if not m:
        return None
    phrase = re.sub(r"\s+(look like|say|read)$", "", m.group(1).strip().lower())
    phrase = re.sub(r"^(the|our|a)\s+", "", phrase)
    return phrase or None


def goal(text: str) -> str:
    cleaned = re.sub(
        r"^\s*(?:please\s+)?(?:can you\s+|could you\s+)?(?:draft|create|design|build|"
        r"propose|write|make|set up|plan)\s+(?:me\s+)?(?:up\s+)?(?:a|an|the)?\s*(?:new\s+)?",
        "",
        text,
        flags=re.I,
    )
    return cleaned.strip().rstrip("?.!") or text.strip()


def scope(text: str, known: Known) -> tuple[str, str | None]:
    ch = channel(text)
    jr = (
        journey(text, known)
        if re.search(
            r"\bjourney|\b" + "|".join(re.escape(_norm(j)) for j in known.journeys or ("\x00",)),
            _norm(text),
        )
        else None
    )
    if jr:
        return "journey", jr
    if ch:
        return "channel", ch
    if re.search(r"\bjourney\b", text, re.I) and not re.search(
        r"\b(all|every)\s+(the\s+)?journey", text, re.I
    ):  # "resume the journey": ask which one; never widen it to all sending
        return "journey", None
    return "all", None


def _status(text: str, allowed: tuple[str, ...]) -> str | None:
    low = text.lower()
    return next((s for s in allowed if re.search(rf"\b{s}\b", low)), None)


_EXTRACTORS: dict[str, Callable[[str, Known], dict[str, Any]]] = {
    "count_customers": lambda t, k: {"segment": segment(t)},
    "list_customers": lambda t, k: {"segment": segment(t), "limit": limit(t)},
    "get_customer_profile": lambda t, k: {"customer_id": customer_id(t)},
    "get_customer_timeline": lambda t, k: {"customer_id": customer_id(t), "limit": limit(t)},
    "explain_decision": lambda t, k: {"customer_id": customer_id(t), "offer": offer(t)},
    "journey_performance": lambda t, k: {"journey": journey(t, k), "days": days(t)},
    "channel_performance": lambda t, k: {"channel": channel(t), "days": days(t)},
    "show_pauses": lambda t, k: {},
    "pause": lambda t, k: dict(zip(("scope", "target"), scope(t, k), strict=True)),
    "resume": lambda t, k: dict(zip(("scope", "target"), scope(t, k), strict=True)),
    "preview_creative": lambda t, k: {"action": action_phrase(t)},
    "list_journeys": lambda t, k: {
        "status": _status(t, ("active", "paused", "proposed"))
        or ("proposed" if re.search(r"draft|propos|waiting", t.lower()) else None)
    },
    "draft_journey": lambda t, k: {"goal": goal(t)},
    "accept_journey": lambda t, k: {"journey": journey(t, k)},
    "list_reviews": lambda t, k: {
        "status": _status(t, ("pending", "approved", "rejected", "expired"))
    },
    "approve_review": lambda t, k: {"review_id": review_id(t)},
    "reject_review": lambda t, k: {"review_id": review_id(t), "reason": note(t)},
}


def extract(tool: str, text: str, known: Known) -> dict[str, Any]:
    """Arguments for `tool` read from `text`; values not found are left out (defaults apply)."""
    found = _EXTRACTORS.get(tool, lambda t, k: {})(text, known)
    return {k: v for k, v in found.items() if v is not None}


def repair(
    spec: ToolSpec,
    proposed: dict[str, Any],
    text: str,
    known: Known,
    *,
    prefer_request: bool = False,
) -> dict[str, Any]:
    """Make a proposed call valid: keep what validates, fix the rest from the request.

    With `prefer_request` (small models, which copy ids badly and guess enums) a value read
    from the request's own words wins over the model's, and an optional value the request does
    not state is left to its default; otherwise the model's valid values are kept.
    """
    schema = spec.schema()
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    fixed = {k: v for k, v in proposed.items() if k in props and v not in (None, "")}
    from_text = extract(spec.name, text, known)
    for name, value in list(fixed.items()):
        allowed = _enum(props[name])
        if prefer_request and name not in from_text and name not in required:
            fixed.pop(name)  # an optional value the request does not state: a small model's guess
            continue
        if allowed and value not in allowed:
            close = get_close_matches(str(value).lower(), allowed, n=1, cutoff=0.5)
            if close:
                fixed[name] = close[0]
            else:
                fixed.pop(name)
    for name, value in from_text.items():
        if prefer_request:
            fixed[name] = value
        else:
            fixed.setdefault(name, value)
    try:
        return spec.validate(fixed)
    except ValidationError as exc:
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        for name in bad:  # the model's value is wrong: trust the request's words instead
            if name in from_text:
                fixed[name] = from_text[name]
            else:
                fixed.pop(name, None)
        return spec.validate(fixed)  # still invalid: the caller asks the user


def _enum(prop: dict[str, Any]) -> list[str]:
    if "enum" in prop:
        return [str(v) for v in prop["enum"]]
    for option in prop.get("anyOf", []):
        if "enum" in option:
            return [str(v) for v in option["enum"]]
    return []
