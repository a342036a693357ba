"""Content checks on what would go out: banned phrases, claims, offers, links, HTML, brand fit."""

from __future__ import annotations

import re
from html import escape
from typing import Any

import nh3

from core.domain import PlannedAction, Verdict
from guardrails.policy import Policy
from guardrails.text import all_text, domain_of, plain, urls_in

__all__ = [
    "banned_phrases_check",
    "brand_conformance_check",
    "claims_check",
    "html_check",
    "offer_limits_check",
    "sanitise_html",
    "url_domains_check",
]

_PCT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*(?:%|percent)\s*(?:off|discount)", re.I)
_SAFE_SCHEMES = {"http", "https", "mailto"}


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", plain(text)).lower()


def banned_phrases_check(content: dict[str, Any], policy: Policy) -> Verdict:
    text = _normalised(all_text(content))
    hits = [p for p in policy.content.banned_phrases if p.lower() in text]
    if hits:
        return Verdict.block("banned_phrases", *(f"banned_phrase:{h}" for h in hits))
    return Verdict.allow("banned_phrases")


def claims_check(content: dict[str, Any], policy: Policy) -> Verdict:
    """Financial promises and health claims go to a person (legal sign-off), never out as is."""
    text = _normalised(all_text(content))
    reasons = [
        f"{kind}_claim:{m.group(0)[:60]}"
        for kind, patterns in policy.content.claims.items()
        for pattern in patterns
        if (m := re.search(pattern, text, re.I))
    ]
    return Verdict.escalate("claims", *reasons) if reasons else Verdict.allow("claims")


def offer_limits_check(action: PlannedAction, policy: Policy) -> Verdict:
    """Discount and value limits, for the offer and for any discount the copy itself states."""
    limit = policy.content.max_discount_pct
    reasons = []
    offered = float(action.offer.get("discount_pct") or 0)
    if offered > limit:
        reasons.append(f"discount_over_limit:{offered:g}>{limit:g}")
    value = float(action.offer.get("value") or 0)
    if value > policy.content.max_offer_value:
        reasons.append(f"offer_value_over_budget:{value:g}>{policy.content.max_offer_value:g}")
    for match in _PCT.finditer(plain(all_text(action.content))):
        stated = float(match.group(1))
        if stated > limit:
            reasons.append(f"copy_discount_over_limit:{stated:g}%")
        elif stated > offered:
            reasons.append(f"copy_discount_not_in_offer:{stated:g}%")
    reasons = list(dict.fromkeys(reasons))
    return Verdict.block("offer_limits", *reasons) if reasons else Verdict.allow("offer_limits")


def url_domains_check(content: dict[str, Any], policy: Policy) -> Verdict:
    allowed = [d.lower() for d in policy.content.allowed_domains]
    bad = []
    for url in urls_in(all_text(content)):
        if "{{" in url:
            continue  # a placeholder the channel fills (unsubscribe link)
        scheme = url.split(":", 1)[0].lower() if "://" in url or ":" in url[:11] else "http"
        if scheme not in _SAFE_SCHEMES and not url.lower().startswith("www."):
            bad.append(f"unsafe_scheme:{scheme}")
            continue
        if scheme == "mailto":
            continue
        host = domain_of(url)
        if not any(host == d or host.endswith("." + d) for d in allowed):
            bad.append(f"domain_not_allowed:{host or url[:40]}")
    return (
        Verdict.block("url_domains", *dict.fromkeys(bad)) if bad else Verdict.allow("url_domains")
    )


# Email HTML is laid out with inline styles and table attributes; keep those (CSS filtered).
_EMAIL_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"style", "dir", "lang", "title", "align"},
    "table": {
        *nh3.ALLOWED_ATTRIBUTES.get("table", set()),
        "width",
        "border",
        "cellpadding",
        "cellspacing",
        "bgcolor",
        "role",
    },
    "td": {*nh3.ALLOWED_ATTRIBUTES.get("td", set()), "width", "height", "valign", "bgcolor"},
    "th": {*nh3.ALLOWED_ATTRIBUTES.get("th", set()), "width", "height", "valign", "bgcolor"},
}
_UNSAFE_CSS = re.compile(
    r"url\s*\(|expression\s*\(|javascript:|@import|behavior\s*:|-moz-binding", re.I
)
_BODY = re.compile(r"<body\b([^>]*)>(.*?)(?:</body\s*>|$)", re.I | re.S)
_STYLE_ATTR = re.compile(r"""\bstyle\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_LANG = re.compile(r"""<html\b[^>]*\blang\s*=\s*["']?([A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*)""", re.I)


def _keep_attribute(tag: str, name: str, value: str) -> str | None:
    """Drop inline CSS that can load or run something (url(), expression(), ...)."""
    if name == "style" and _UNSAFE_CSS.search(value):
        return None
    return value


def _clean_fragment(html: str) -> str:
    return nh3.clean(
        html,
        attributes=_EMAIL_ATTRIBUTES,
        attribute_filter=_keep_attribute,
        url_schemes=_SAFE_SCHEMES,
        link_rel="noopener noreferrer",
    )


def sanitise_html(html: str) -> str:
    """Safe HTML for email bodies: no scripts, handlers, forms, active CSS or javascript: links.

    Inline styles, tables and links (including `{{...}}` placeholders in `href`) survive. A
    whole document (`<body>`) is rebuilt around its cleaned body, keeping only the `lang` and
    the body's own (filtered) style, since the sanitiser itself works on fragments.
    """
    body = _BODY.search(html)
    if body is None:
        return _clean_fragment(html)
    lang = _LANG.search(html[: body.start()])
    style_attr = _STYLE_ATTR.search(body.group(1))
    style = next((g for g in style_attr.groups() if g is not None), "") if style_attr else ""
    body_open = "<body>"
    if style and not _UNSAFE_CSS.search(style):
        body_open = f'<body style="{escape(style, quote=True)}">'
    html_open = f'<html lang="{lang.group(1)}">' if lang else "<html>"
    return (
        f'<!doctype html>\n{html_open}\n<head><meta charset="utf-8"></head>\n{body_open}'
        f"{_clean_fragment(body.group(2))}</body>\n</html>\n"
    )


def html_check(content: dict[str, Any]) -> Verdict:
    """Block HTML that sanitising would change in substance (script, handlers, bad schemes)."""
    reasons = []
    for key, value in content.items():
        if not isinstance(value, str) or "<" not in value:
            continue
        low = value.lower()
        if "<script" in low or "<iframe" in low or "<object" in low or "<embed" in low:
            reasons.append(f"html_active_content:{key}")
        if re.search(r"\son[a-z]+\s*=", low):
            reasons.append(f"html_event_handler:{key}")
        if re.search(r"(javascript|vbscript|data)\s*:", low):
            reasons.append(f"html_unsafe_url:{key}")
    return Verdict.block("html", *reasons) if reasons else Verdict.allow("html")


def brand_conformance_check(action: PlannedAction, policy: Policy) -> Verdict:
    """Brand fit comes from brand/ (conformance_score); a low score goes to a person."""
    score = action.conformance_score
    if score is None or score >= policy.content.min_conformance:
        return Verdict.allow("brand_conformance")
    return Verdict.escalate(
        "brand_conformance", f"conformance_below:{score:.2f}<{policy.content.min_conformance:g}"
    )
