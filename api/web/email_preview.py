"""Email previews as the customer would see them, and safe to look at.

A preview goes into a sandboxed `<iframe srcdoc>`. The inner document is built here with its
own escaping (a plain-text body stays text, never markup) and carries a Content-Security-Policy
that lets nothing load from elsewhere, so opening a review cannot ping a tracker; the template
then escapes the whole document once more for the attribute.

Send-time merge fields (`{{physical_address}}`, `{{unsubscribe_url}}`) are filled for display
only. What is stored and approved keeps its placeholders: an approval is bound to the hash of
the stored content, and the channel fills each customer's own unsubscribe link when it sends.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api.web import review_service
from api.web.review_service import ServiceMissing

__all__ = [
    "PREVIEW_CSP",
    "SAMPLE_UNSUBSCRIBE_TOKEN",
    "EmailPreview",
    "MergeFields",
    "email_preview",
    "html_document",
    "merge_fields",
    "text_document",
]

# What a previewed email may load: inline styles and data: images, nothing from the network.
PREVIEW_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
# Links open nothing (the sandbox allows no new windows); hovering still shows where they go.
_HEAD = (
    f'<meta http-equiv="Content-Security-Policy" content="{PREVIEW_CSP}">'
    '<meta name="referrer" content="no-referrer"><base target="_blank">'
)
_DOCTYPE = re.compile(r"\A\s*<!doctype[^>]*>", re.IGNORECASE)
_TEXT_STYLE = "font-family:sans-serif;white-space:pre-wrap;margin:0"

SAMPLE_UNSUBSCRIBE_TOKEN = "SAMPLE-preview-only"  # a visible marker in the link, not a secret
# The placeholders guardrails.policy names, for builds without guardrails/.
_ADDRESS_PLACEHOLDER = "{{physical_address}}"
_UNSUBSCRIBE_PLACEHOLDER = "{{unsubscribe_url}}"


def html_document(markup: str) -> str:
    """An email's HTML with the preview CSP as the first thing in its head.

    Put after the doctype when there is one (the page keeps its standards mode), else first:
    either way the parser places the meta elements in the head, before anything can load.
    """
    doctype = _DOCTYPE.match(markup)
    cut = doctype.end() if doctype else 0
    return markup[:cut] + _HEAD + markup[cut:]


def text_document(text: str) -> str:
    """A plain-text body as a document that shows the text literally."""
    return (
        f"<!doctype html><html><head>{_HEAD}</head>"
        f'<body><pre style="{_TEXT_STYLE}">{html.escape(text)}</pre></body></html>'
    )


@dataclass(frozen=True)
class MergeFields:
    """The send-time merge fields and what a preview puts in their place."""

    address_placeholder: str
    physical_address: str  # "" when the policy names none
    unsubscribe_placeholder: str
    unsubscribe_url: str  # a sample: each customer's own link is signed at send time

    def present_in(self, text: str) -> list[str]:
        """Which merge fields `text` uses, as their placeholders."""
        fields = (self.address_placeholder, self.unsubscribe_placeholder)
        return [f for f in fields if f in text]

    def fill(self, text: str, *, markup: bool) -> str:
        """`text` with the fields filled; values are escaped when `text` is HTML."""
        address, url = self.physical_address, self.unsubscribe_url
        if markup:
            address, url = html.escape(address), html.escape(url)
        if address:  # none configured: the placeholder stays, and the note says so
            text = text.replace(self.address_placeholder, address)
        return text.replace(self.unsubscribe_placeholder, url)


def merge_fields(base_url: str) -> MergeFields:
    """The physical address from the guardrail policy (the one email compliance checks
    against), and a sample unsubscribe link shaped like the real one (`<base>/u/<token>`)."""
    address = ""
    address_placeholder, unsubscribe_placeholder = _ADDRESS_PLACEHOLDER, _UNSUBSCRIBE_PLACEHOLDER
    try:
        email_policy = review_service.policy().default_policy().email
    except ServiceMissing:
        pass  # no guardrails/ in this build: the address placeholder stays, the note says so
    else:
        address = email_policy.physical_address
        address_placeholder = email_policy.address_placeholder
        unsubscribe_placeholder = email_policy.unsubscribe_placeholder
    return MergeFields(
        address_placeholder=address_placeholder,
        physical_address=address,
        unsubscribe_placeholder=unsubscribe_placeholder,
        unsubscribe_url=f"{base_url.rstrip('/')}/u/{SAMPLE_UNSUBSCRIBE_TOKEN}",
    )


@dataclass(frozen=True)
class EmailPreview:
    """What the review queue and timelines show of an email.

    `document` is plain text on purpose: the template escapes it into the srcdoc attribute.
    The flags say which merge fields the preview filled, for the note under it;
    `missing_address` means the content asks for an address the policy does not name.
    """

    subject: str
    preheader: str
    document: str
    fills_address: bool
    fills_unsubscribe: bool
    missing_address: bool
    sample_unsubscribe_url: str

    @property
    def uses_merge_fields(self) -> bool:
        return self.fills_address or self.fills_unsubscribe or self.missing_address


def _text(content: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = content.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def email_preview(content: Mapping[str, Any], *, base_url: str) -> EmailPreview:
    """The email of `content` (Creative keys, or an outbox payload's) as the customer sees it."""
    fields = merge_fields(base_url)
    markup = _text(content, "body_html", "html")
    if markup:
        source = markup
        document = html_document(fields.fill(markup, markup=True))
    else:
        source = _text(content, "body_text", "text")
        cta_url = _text(content, "cta_url")
        if cta_url:
            source += f"\n\n{_text(content, 'cta_text') or 'Open'}: {cta_url}"
        document = text_document(fields.fill(source, markup=False))
    subject = _text(content, "subject") or "(no subject)"
    preheader = _text(content, "preheader")
    used = fields.present_in("\n".join((subject, preheader, source)))
    asks_address = fields.address_placeholder in used
    return EmailPreview(
        subject=fields.fill(subject, markup=False),
        preheader=fields.fill(preheader, markup=False),
        document=document,
        fills_address=asks_address and bool(fields.physical_address),
        fills_unsubscribe=fields.unsubscribe_placeholder in used,
        missing_address=asks_address and not fields.physical_address,
        sample_unsubscribe_url=fields.unsubscribe_url,
    )
