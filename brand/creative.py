"""The creative agent: brand facts -> prompt -> structured draft -> conformance -> revise/fallback.

For a decided action and channel it resolves the facts (intent block, product, offer) from the
kit by code, asks the LLM for the words only, composes channel content, scores it, revises once
with the critique, and otherwise falls back to approved blocks. Approved variants are cached per
(segment, action, channel, brand version, locale, offer) before personalisation, which only uses
profile fields that exist.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from sqlmodel import Session

from brand.conformance import ConformanceResult, score_content
from brand.drafts import DRAFT_SCHEMAS, Facts, compose, fallback_draft
from brand.store import BrandStore
from brand.variants import VariantKey
from core.audit import append as audit_append
from core.audit import digest
from core.domain import Creative, ProfileView
from core.llm import LlmClient, LlmOutputError, LlmUnavailableError
from prompts import render, template_hash

__all__ = ["intent_of", "resolve_facts", "segment_of", "write_creative"]

log = logging.getLogger(__name__)

# Enough room for each channel's fields; a short cap also bounds latency on the local model.
# Room for the longest draft its schema allows (brand.drafts) plus the JSON around it, at
# ~4 characters a token: a reply cut at max_tokens is invalid JSON and costs a fallback.
_MAX_TOKENS = {"email": 300, "sms": 70, "push": 70, "web": 180, "csm": 340}

_INTENTS = (
    ("cart", ("cart", "basket", "abandon")),
    ("winback", ("winback", "win_back", "lapsed", "reactivat")),
    ("welcome", ("welcome", "first", "onboard")),
    ("retention", ("churn", "retention", "save", "csm", "service_recovery")),
)


def intent_of(action_id: str) -> str:
    """Which approved block family an action belongs to ('general' when none matches)."""
    lowered = action_id.lower()
    return next((i for i, words in _INTENTS if any(w in lowered for w in words)), "general")


def segment_of(profile: ProfileView) -> str:
    """The variant-cache segment: lifecycle stage and tier when the profile has them."""
    stage = profile.computed.get("lifecycle_stage") or "any"
    tier = profile.computed.get("tier") or "any"
    return f"{stage}/{tier}"


def _first_name(profile: ProfileView) -> str | None:
    for key in ("first_name", "firstName"):
        value = profile.traits.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().split()[0][:40]
    name = profile.traits.get("name")
    return name.strip().split()[0][:40] if isinstance(name, str) and name.strip() else None


def resolve_facts(
    store: BrandStore, profile: ProfileView, action_id: str, offer: dict[str, Any]
) -> Facts:
    """Facts from the kit only: an offer or product the kit does not know is left out."""
    kit = store.kit
    intent = intent_of(action_id)
    block = kit.blocks.get(intent) or kit.blocks["general"]
    kit_offer = kit.offer(str(offer.get("offer_id") or offer.get("id") or ""))
    sku = offer.get("sku") or offer.get("product_sku")
    if not sku:
        cart = profile.computed.get("open_cart") or {}
        items = cart.get("items") if isinstance(cart, dict) else None
        if isinstance(items, list) and items and isinstance(items[0], dict):
            sku = items[0].get("sku") or items[0].get("product_id")
    name = _first_name(profile)
    return Facts(
        kit=kit,
        intent=intent,
        block=block,
        product=kit.product(str(sku)) if sku else None,
        offer=kit_offer,
        greeting=f"Hi {name}," if name else None,
    )


def _messages(
    store: BrandStore, facts: Facts, channel: str, action_id: str
) -> list[dict[str, str]]:
    kit = store.kit
    schema = DRAFT_SCHEMAS[channel]
    query = f"{facts.intent} {action_id} {facts.product.name if facts.product else ''}"
    claims = [f.text for f in store.search(query, kinds=["claim"], k=3)]
    exemplars = [f.text for f in store.search(query, kinds=["exemplar"], k=3)]
    limits = ", ".join(
        f"{k.split('.', 1)[1]} at most {v} characters"
        for k, v in kit.rules.lengths.items()
        if k.startswith(f"{channel}.") and k.split(".", 1)[1] in schema.model_fields
    )
    system = render(
        "creative_system",
        brand_name=kit.name,
        voice_summary=kit.voice.summary,
        tone=kit.voice.tone,
        banned=kit.banned_phrases,
    )
    user = render(
        "creative_draft",
        channel=channel,
        purpose=facts.block.headline,
        product=(
            f"{facts.product.name}, {facts.product.price}: {facts.product.description}"
            if facts.product
            else ""
        ),
        offer=facts.offer.title if facts.offer else "",
        facts=claims,
        exemplars=exemplars,
        fields=", ".join(schema.model_fields),
        limits=limits,
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _draft(
    llm: LlmClient,
    messages: list[dict[str, str]],
    channel: str,
    session: Session | None,
    purpose: str,
) -> dict[str, str] | None:
    try:
        result = llm.structured(
            messages,
            DRAFT_SCHEMAS[channel],
            purpose=purpose,
            max_tokens=_MAX_TOKENS.get(channel, 200),
            session=session,
        )
    except (LlmOutputError, LlmUnavailableError) as exc:
        log.warning("creative %s draft failed: %s", channel, exc)
        return None
    return {k: str(v) for k, v in result.model_dump().items()}


def write_creative(
    *,
    store: BrandStore,
    llm: LlmClient | None,
    profile: ProfileView,
    action_id: str,
    channel: str,
    offer: dict[str, Any],
    session: Session | None = None,
    locale: str | None = None,
    accept: Callable[[dict[str, Any]], list[str]] | None = None,
) -> Creative:
    """Channel-ready, brand-scored creative for one decided action (see module docstring).

    `accept(content) -> reasons` is an extra acceptance test (the journey passes its content
    guardrails): a draft it refuses counts as failing conformance, so it is revised with those
    reasons as critique and otherwise replaced by the approved-blocks fallback.
    """

    def judge(content: dict[str, Any]) -> ConformanceResult:
        result = score_content(store, content, channel)
        refused = accept(content) if accept is not None else []
        if not refused:
            return result
        return replace(result, passed=False, reasons=[*result.reasons, *refused])

    kit = store.kit
    facts = resolve_facts(store, profile, action_id, offer)
    if channel not in DRAFT_SCHEMAS:
        return _structural(store, channel, action_id, facts, profile)
    key = VariantKey(
        segment_of(profile),
        action_id,
        channel,
        kit.version,
        locale or profile.locale or kit.locale,
        facts.offer.id if facts.offer else "",
    )
    cached = store.variants.get(key)
    model = prompt_hash = None
    tokens = 0
    if cached is not None:
        draft, source = dict(cached["draft"]), "cache"
        model, prompt_hash = cached.get("model"), cached.get("prompt_hash")
        content = compose(facts, channel, draft)
        result = judge(content)
    else:
        draft, source, content, result = {}, "fallback", {}, ConformanceResult(0.0, False)
        model_answered = llm is None  # without a model the fallback is the answer to keep
        if llm is not None:
            model = llm.model_name
            before = llm.usage.prompt_tokens + llm.usage.completion_tokens
            messages = _messages(store, facts, channel, action_id)
            prompt_hash = digest(
                {"template": template_hash("creative_draft"), "messages": messages}
            )
            first = _draft(llm, messages, channel, session, "creative.draft")
            model_answered = first is not None
            if first is not None:
                draft, source = first, "llm"
                content = compose(facts, channel, draft)
                result = judge(content)
            if first is not None and not result.passed:
                revise = render(
                    "creative_revise",
                    channel=channel,
                    reasons=result.reasons,
                    draft=json.dumps(first),
                    fields=", ".join(DRAFT_SCHEMAS[channel].model_fields),
                )
                second = _draft(
                    llm,
                    [
                        *messages,
                        {"role": "assistant", "content": json.dumps(first)},
                        {"role": "user", "content": revise},
                    ],
                    channel,
                    session,
                    "creative.revise",
                )
                if second is not None:
                    draft, source = second, "revised"
                    content = compose(facts, channel, draft)
                    result = judge(content)
            tokens = llm.usage.prompt_tokens + llm.usage.completion_tokens - before
        if not result.passed:
            draft, source = fallback_draft(facts, channel), "fallback"
            content = compose(facts, channel, draft)
            result = score_content(store, content, channel)
        if model_answered:  # a model outage must not pin the fallback on the whole segment
            store.variants.put(
                key,
                {
                    "draft": draft,
                    "model": model if source != "fallback" else None,
                    "prompt_hash": prompt_hash,
                    "result": asdict(result),
                },
            )
    if source == "cache" and not result.passed:  # a cached variant this customer must not get
        draft, source = fallback_draft(facts, channel), "fallback"
        content = compose(facts, channel, draft)
        result = score_content(store, content, channel)
    creative = Creative(
        channel=channel,
        content=content,
        brand_version=kit.version,
        conformance_score=result.score,
        conformance_reasons=result.reasons,
        claims=result.claims,
        source=source,
        model=model if source in ("llm", "revised", "cache") else None,
        prompt_hash=prompt_hash,
        tokens=tokens,
    )
    if session is not None:
        audit_append(
            session,
            actor="agent:creative",
            kind="creative.written",
            customer_id=profile.customer_id,
            payload={
                "action_id": action_id,
                "channel": channel,
                "source": source,
                "brand_version": kit.version,
                "model": creative.model,
                "prompt_hash": prompt_hash,
                "content_digest": digest(content),
                "conformance_score": result.score,
                "claims": result.claims,
                "tokens": tokens,
            },
        )
    return creative


def _structural(
    store: BrandStore, channel: str, action_id: str, facts: Facts, profile: ProfileView
) -> Creative:
    """Channels without copy (audience, webhook): deterministic content, nothing to draft."""
    if channel == "audience":
        content: dict[str, Any] = {"audience": f"{action_id}:{segment_of(profile)}"}
    elif channel == "webhook":
        data: dict[str, Any] = {"action_id": action_id, "customer_id": profile.customer_id}
        if facts.offer:
            data["offer"] = facts.offer.model_dump()
        content = {"event": f"cjo.{action_id}", "data": data}
    else:
        raise ValueError(f"channel {channel!r}: no creative for this channel")
    return Creative(
        channel=channel,
        content=content,
        brand_version=store.kit.version,
        conformance_score=1.0,
        source="fallback",
    )
