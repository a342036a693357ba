"""Email compliance (CAN-SPAM, CASL, Gmail/Yahoo bulk-sender rules).

Every marketing email needs the sender's physical address, a working unsubscribe link, and at
send time the List-Unsubscribe and List-Unsubscribe-Post (RFC 8058 one-click) headers; the
subject must not deceive.
"""

from __future__ import annotations

import re
from typing import Any

from core.domain import Verdict
from guardrails.policy import Policy
from guardrails.text import all_text, urls_in

__all__ = ["email_compliance_check"]

CHECK = "email_compliance"


def _has_unsubscribe(content: dict[str, Any], policy: Policy) -> bool:
    text = all_text(content)
    if policy.email.unsubscribe_placeholder in text:
        return True
    return any("unsubscribe" in url.lower() for url in urls_in(text))


def email_compliance_check(content: dict[str, Any], policy: Policy, *, stage: str) -> Verdict:
    reasons = []
    text = all_text(content)
    address = policy.email.physical_address
    if policy.email.address_placeholder not in text and (not address or address not in text):
        reasons.append("missing_physical_address")
    if not _has_unsubscribe(content, policy):
        reasons.append("missing_unsubscribe_link")
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
