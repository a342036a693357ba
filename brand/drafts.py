"""Structured drafts per channel and how they become channel content.

The LLM fills only the words (a `*Draft` model); code adds what must be exact: offer terms,
URLs, the legal footer, the postal address and the unsubscribe placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, Field

from brand.conformance import SMS_SEPTETS, UNSUBSCRIBE_PLACEHOLDER, gsm7_septets
from brand.kit import Block, BrandKit, Offer, Product

__all__ = [
    "DRAFT_SCHEMAS",
    "CsmDraft",
    "EmailDraft",
    "Facts",
    "PushDraft",
    "SmsDraft",
    "WebDraft",
    "compose",
    "fallback_draft",
]

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    undefined=StrictUndefined,
    autoescape=True,
)


class EmailDraft(BaseModel):
    subject: str = Field(min_length=3, max_length=80)
    preheader: str = Field(min_length=3, max_length=120)
    body: str = Field(min_length=10, max_length=700)
    cta_text: str = Field(min_length=2, max_length=40)


class SmsDraft(BaseModel):
    text: str = Field(min_length=5, max_length=100)  # room for the offer code and opt-out


class PushDraft(BaseModel):
    title: str = Field(min_length=3, max_length=60)
    body: str = Field(min_length=3, max_length=140)


class WebDraft(BaseModel):
    headline: str = Field(min_length=3, max_length=80)
    body: str = Field(min_length=5, max_length=300)
    cta_text: str = Field(min_length=2, max_length=40)


class CsmDraft(BaseModel):
    script: str = Field(min_length=10, max_length=900)
    summary: str = Field(min_length=3, max_length=200)


DRAFT_SCHEMAS: dict[str, type[BaseModel]] = {
    "email": EmailDraft,
    "sms": SmsDraft,
    "push": PushDraft,
    "web": WebDraft,
    "csm": CsmDraft,
}


@dataclass(frozen=True)
class Facts:
    """What a message may say, resolved from the kit by code (never by the model)."""

    kit: BrandKit
    intent: str
    block: Block
    product: Product | None
    offer: Offer | None
    greeting: str | None  # from profile fields that exist, else None

    def placeholders(self) -> dict[str, str]:
        offer = self.offer
        return {
            "product_name": self.product.name if self.product else "your items",
            "product_price": self.product.price if self.product else "",
            "offer_terms": offer.terms if offer else "",
            "offer_code": offer.code if offer else "",
            "offer_ends": offer.ends if offer else "",
            "offer_short": f"{offer.title} with code {offer.code} until {offer.ends}."
            if offer
            else "",
        }

    def fill(self, text: str) -> str:
        out = text
        for key, value in self.placeholders().items():
            out = out.replace("{" + key + "}", value)
        return " ".join(out.replace(" ()", "").split())


def fallback_draft(facts: Facts, channel: str) -> dict[str, str]:
    """A draft composed only from the kit's approved blocks for this intent."""
    b = facts.block
    body = b.body
    if not facts.product and "{product_name}" in body:
        body = body.split(". ", 1)[-1]  # the first sentence names the product; drop it
    drafts: dict[str, dict[str, str]] = {
        "email": {
            "subject": b.subject,
            "preheader": b.preheader,
            "body": body,
            "cta_text": b.cta_text,
        },
        "sms": {"text": b.sms},
        "push": {"title": b.push_title, "body": b.push_body},
        "web": {"headline": b.headline, "body": body, "cta_text": b.cta_text},
        "csm": {"script": b.script or body, "summary": b.headline},
    }
    filled = {k: facts.fill(v) for k, v in drafts[channel].items()}
    footer = " ".join(facts.kit.disclaimers.get("sms", []))
    if channel == "sms" and facts.offer and _septets(f"{filled['text']} {footer}") > SMS_SEPTETS:
        short = f"Code {facts.offer.code} until {facts.offer.ends}."
        filled["text"] = facts.fill(b.sms.replace("{offer_short}", short))
    return filled


def _septets(text: str) -> int:
    """GSM-7 length, counting a character outside the alphabet as two (never fits better)."""
    septets = gsm7_septets(text)
    return septets if septets is not None else 2 * len(text)


def compose(facts: Facts, channel: str, draft: dict[str, str]) -> dict[str, Any]:
    """Channel content (keys as `core.domain.Creative` lists) from a draft plus exact facts."""
    kit, b = facts.kit, facts.block
    offer_line = facts.fill(b.offer_line) if facts.offer else ""
    if channel == "email":
        paragraphs = [p.strip() for p in draft["body"].split("\n") if p.strip()]
        disclaimers = kit.disclaimers.get("email", [])
        text_parts = [
            facts.greeting or "",
            *paragraphs,
            offer_line,
            f"{draft['cta_text']}: {b.cta_url}",
        ]
        footer = [*disclaimers, kit.postal_address, f"Unsubscribe: {UNSUBSCRIBE_PLACEHOLDER}"]
        body_text = "\n\n".join(p for p in text_parts if p) + "\n\n--\n" + "\n".join(footer)
        body_html = _templates.get_template("email.html.j2").render(
            locale=kit.locale,
            subject=draft["subject"],
            preheader=draft["preheader"],
            greeting=facts.greeting,
            paragraphs=paragraphs,
            offer_line=offer_line,
            cta_text=draft["cta_text"],
            cta_url=b.cta_url,
            disclaimers=disclaimers,
            postal_address=kit.postal_address,
            unsubscribe_placeholder=UNSUBSCRIBE_PLACEHOLDER,
        )
        return {
            "subject": draft["subject"],
            "preheader": draft["preheader"],
            "body_text": body_text,
            "body_html": body_html,
            "cta_text": draft["cta_text"],
            "cta_url": b.cta_url,
        }
    if channel == "sms":
        text = draft["text"].strip()
        if facts.offer and facts.offer.code not in text:
            text = f"{text} Code {facts.offer.code} until {facts.offer.ends}."
        for line in kit.disclaimers.get("sms", []):
            if line.lower() not in text.lower():
                text = f"{text} {line}"
        return {"text": text}
    if channel == "push":
        return {"title": draft["title"], "body": draft["body"], "url": b.cta_url}
    if channel == "web":
        body = f"{draft['body']} {offer_line}".strip()
        return {
            "headline": draft["headline"],
            "body": body,
            "cta_text": draft["cta_text"],
            "cta_url": b.cta_url,
        }
    if channel == "csm":
        script = f"{draft['script']} {offer_line}".strip()
        return {"script": script, "summary": draft["summary"]}
    raise ValueError(f"channel {channel!r} has no drafted copy")
