"""The creative agent: draft, revise once, fall back to approved blocks, cache, personalise."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from brand.creative import intent_of, write_creative
from brand.store import BrandStore
from core.db import session_scope
from core.domain import ProfileView
from core.llm import LlmClient
from core.tables import AuditEntry
from tests.brand.conftest import scripted_client

GOOD_EMAIL = {
    "subject": "Your Beacon 400 is still in your basket",
    "preheader": "It is still there when you are ready to ride.",
    "body": "You left a Beacon 400 Front Light in your basket. It gives you four hours of "
    "steady light on one charge.",
    "cta_text": "Return to your basket",
}
BAD_EMAIL = {
    "subject": "ACT NOW!!! HUGE SAVINGS",
    "preheader": "Cheapest lights anywhere, guaranteed results!",
    "body": "Get 70% off everything today only!!! You won't believe it.",
    "cta_text": "Click here",
}
GOOD_SMS = {"text": "Kestrel: your Beacon 400 Front Light is still in your basket."}
BAD_SMS = {"text": "ACT NOW!!! 70% OFF EVERYTHING!!!"}


def _profile(**traits: Any) -> ProfileView:
    return ProfileView(
        customer_id="c-1",
        traits=traits,
        computed={"lifecycle_stage": "active", "open_cart": {"items": [{"sku": "KST-LIGHT-400"}]}},
    )


def _write(store: BrandStore, llm: LlmClient | None, channel: str = "email", **kw: Any) -> Any:
    args: dict[str, Any] = {
        "store": store,
        "llm": llm,
        "profile": _profile(first_name="Ada"),
        "action_id": "cart_abandoned_reminder",
        "channel": channel,
        "offer": {"offer_id": "cart-10"},
    }
    args.update(kw)
    return write_creative(**args)


def test_good_first_draft_is_used_with_exact_offer_and_legal_footer(store: BrandStore) -> None:
    llm, backend = scripted_client(GOOD_EMAIL)
    creative = _write(store, llm)
    assert creative.source == "llm" and creative.model == "scripted-model"
    assert creative.brand_version == store.version
    body = creative.content["body_text"]
    assert body.startswith("Hi Ada,")
    assert "code BASKET10, until Sunday 6 December" in body
    assert store.kit.postal_address in body and "{{unsubscribe_url}}" in body
    assert store.kit.postal_address in creative.content["body_html"]
    assert "{{unsubscribe_url}}" in creative.content["body_html"]
    assert set(creative.content) == {
        "subject",
        "preheader",
        "body_text",
        "body_html",
        "cta_text",
        "cta_url",
    }
    assert creative.content["cta_url"] == "https://kestrel.example/basket"
    assert creative.conformance_score >= 0.7 and creative.tokens == 120
    assert len(backend.requests) == 1


def test_off_brand_draft_is_revised_once_with_the_critique(store: BrandStore) -> None:
    llm, backend = scripted_client(BAD_EMAIL, GOOD_EMAIL)
    creative = _write(store, llm)
    assert creative.source == "revised"
    critique = backend.requests[1][-1]["content"]
    assert "banned_phrase" in critique and "70% off everything" in critique.lower()


def test_two_off_brand_drafts_fall_back_to_approved_blocks(store: BrandStore) -> None:
    llm, backend = scripted_client(BAD_SMS, BAD_SMS)
    creative = _write(store, llm, channel="sms")
    assert creative.source == "fallback" and creative.model is None
    assert len(backend.requests) == 2  # one draft, one revision, never more
    text = creative.content["text"]
    assert len(text) <= 160 and text.endswith("Reply STOP to opt out.")
    assert creative.conformance_score >= 0.7 and "70%" not in text


def test_llm_unavailable_falls_back(store: BrandStore) -> None:
    from core.llm import _Transient

    llm, _ = scripted_client(*[_Transient("down")] * 3)
    assert _write(store, llm, channel="push").source == "fallback"


def test_an_outage_is_not_cached_for_the_segment(store: BrandStore) -> None:
    from core.llm import _Transient

    down, _ = scripted_client(*[_Transient("down")] * 3)
    assert _write(store, down, channel="sms").source == "fallback"
    back, backend = scripted_client(GOOD_SMS)
    assert _write(store, back, channel="sms").source == "llm"  # the model is asked again
    assert len(backend.requests) == 1


@pytest.mark.parametrize("channel", ["email", "sms", "push", "web", "csm"])
@pytest.mark.parametrize("action", ["cart_abandoned", "winback_lapsed", "welcome", "churn_save"])
def test_fallback_copy_passes_conformance_everywhere(
    store: BrandStore, channel: str, action: str
) -> None:
    creative = _write(store, None, channel=channel, action_id=action, offer={})
    assert creative.source == "fallback"
    assert creative.conformance_score >= 0.7, creative.conformance_reasons
    assert [r for r in creative.conformance_reasons if not r.startswith("voice")] == []


def test_unknown_offer_and_product_are_never_mentioned(store: BrandStore) -> None:
    profile = ProfileView(customer_id="c-2", computed={"open_cart": {"items": [{"sku": "X-9"}]}})
    creative = _write(
        store, None, profile=profile, offer={"offer_id": "half-price", "discount_pct": 50}
    )
    body = creative.content["body_text"]
    assert "50%" not in body and "X-9" not in body and "half" not in body.lower()
    assert not body.startswith("Hi")  # no name on the profile, so no invented greeting


def test_variant_cache_serves_the_segment_without_llm_calls(store: BrandStore) -> None:
    llm, backend = scripted_client(GOOD_SMS)
    first = _write(store, llm, channel="sms", profile=_profile(first_name="Ada"))
    second = _write(store, llm, channel="sms", profile=_profile(first_name="Bo"))
    assert first.source == "llm" and second.source == "cache"
    assert len(backend.requests) == 1 and second.model == "scripted-model"
    other_channel = _write(store, None, channel="push")
    assert other_channel.source == "fallback"


def test_structural_channels_need_no_copy(store: BrandStore) -> None:
    webhook = _write(store, None, channel="webhook")
    assert webhook.content["event"] == "cjo.cart_abandoned_reminder"
    assert webhook.content["data"]["offer"]["code"] == "BASKET10"
    assert _write(store, None, channel="audience").content["audience"]


def test_creative_is_audited(store: BrandStore, sqlite_engine: Engine) -> None:
    llm, _ = scripted_client(GOOD_SMS)
    with session_scope(sqlite_engine) as session:
        _write(store, llm, channel="sms", session=session)
    with session_scope(sqlite_engine) as session:
        kinds = [e.kind for e in session.exec(select(AuditEntry).order_by(col(AuditEntry.seq)))]
        written = session.exec(
            select(AuditEntry).where(AuditEntry.kind == "creative.written")
        ).one()
    assert kinds == ["llm.call", "creative.written"]
    assert written.payload["brand_version"] == store.version
    assert written.payload["source"] == "llm" and written.customer_id == "c-1"


def test_intent_follows_action_id() -> None:
    assert intent_of("cart_abandoned_1h") == "cart"
    assert intent_of("lapsed_winback") == "winback"
    assert intent_of("something_else") == "general"
