"""Email compliance (CAN-SPAM, CASL, Gmail/Yahoo bulk-sender rules).

Every marketing email needs the sender's physical address, a working unsubscribe link, and at
send time the List-Unsubscribe and List-Unsubscribe-Post (RFC 8058) one-click headers; the
subject must not deceive. The `{{physical_address}}` placeholder counts as the address only when
the policy has one to put there (the journey's outbox payload carries it and the email adapter
fills it in), and it must be in each part the customer may read: the text and, if any, the HTML.
A placeholder nothing fills would reach the customer as `{{...}}`, so it blocks too.
"""

from __future__ import annotations

import html
import re
from typing import Any

from core.domain import Verdict
from guardrails.policy import Policy
from guardrails.text import all_text, urls_in

__all__ = ["email_compliance_check", "unfilled_placeholders"]

CHECK = "email_compliance"
_PLACEHOLDER = re.compile(r"\{\{\s*[^{}]*?\s*\}\}")
_BODY_PARTS = ("body_text", "body_html")


def _has_unsubscribe(content: dict[str, Any], policy: Policy) -> bool:
    text = all_text(content)
    if policy.email.unsubscribe_placeholder in text:
        return True
    return any("unsubscribe" in url.lower() for url in urls_in(text))


def _fillable(policy: Policy) -> set[str]:
    """Placeholders the email adapter fills in: the unsubscribe URL, and the address if known."""
    known = {policy.email.unsubscribe_placeholder}
    if policy.email.physical_address:
        known.add(policy.email.address_placeholder)
    return known


def unfilled_placeholders(content: dict[str, Any], policy: Policy) -> list[str]:
    """`{{...}}` placeholders in the content that nothing will fill before it is sent."""
    found = _PLACEHOLDER.findall(all_text(content))
    return list(dict.fromkeys(p for p in found if p not in _fillable(policy)))


def _address_missing(content: dict[str, Any], policy: Policy) -> list[str]:
    """A reason per readable part that will not show the physical address."""
    address = policy.email.physical_address
    if not address:
        return ["missing_physical_address:none_configured"]
    parts = {key: str(content[key]) for key in _BODY_PARTS if content.get(key)}
    if not parts:
        parts = {"body_text": all_text(content)}
    reasons = []
    for key, value in parts.items():
        shown = html.unescape(value) if key == "body_html" else value
        if address not in shown and policy.email.address_placeholder not in shown:
            reasons.append(
                "missing_physical_address"
                if key == "body_text"
                else f"missing_physical_address:{key}"
            )
    return reasons


def email_compliance_check(content: dict[str, Any], policy: Policy, *, stage: str) -> Verdict:
    reasons = _address_missing(content, policy)
    if not _has_unsubscribe(content, policy):
        reasons.append("missing_unsubscribe_link")
    reasons += [f"unfilled_placeholder:{p}" for p in unfilled_placeholders(content, policy)]
    subject = str(content.get("subject") or "")
    if not subject.strip():
        reasons.append("missing_subject")
    for pattern in policy.email.deceptive_subject_patterns:
        if re.search(pattern, subject, re.I):
            reasons.append(f"deceptive_subject:{pattern}")
    letters = [c for c in subject if c.isalpha()]
    if len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        reasons.append("deceptive_subject:all_caps")
    if stage == "send":
        headers = {str(k).lower(): str(v) for k, v in (content.get("headers") or {}).items()}
        if "list-unsubscribe" not in headers:
            reasons.append("missing_header:List-Unsubscribe")
        if headers.get("list-unsubscribe-post", "").replace(" ", "").lower() != (
            "list-unsubscribe=one-click"
        ):
            reasons.append("missing_header:List-Unsubscribe-Post")
    return Verdict.block(CHECK, *reasons) if reasons else Verdict.allow(CHECK)
