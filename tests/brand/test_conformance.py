"""Conformance scoring: rules and voice, with reasons a reviewer can read."""

from __future__ import annotations

from brand.conformance import gsm7_septets, reading_grade, score_content
from brand.store import BrandStore

ON_BRAND_SMS = (
    "Kestrel: your basket is waiting. 10% off with code BASKET10 until Sunday 6 December. "
    "Reply STOP to opt out."
)


def test_on_brand_sms_passes_with_traced_claims(store: BrandStore) -> None:
    result = score_content(store, {"text": ON_BRAND_SMS}, "sms")
    assert result.passed, result.reasons
    assert result.score >= 0.7
    assert "cart-10" in result.claims and result.untraceable_claims == []


def test_banned_phrase_fails_and_is_named(store: BrandStore) -> None:
    text = "Kestrel: act now, your basket is waiting. Reply STOP to opt out."
    result = score_content(store, {"text": text}, "sms")
    assert not result.passed
    assert any("banned_phrase: 'act now'" in r for r in result.reasons)


def test_invented_discount_is_an_untraceable_claim(store: BrandStore) -> None:
    text = "Kestrel: take 40% off every jacket this week. Reply STOP to opt out."
    result = score_content(store, {"text": text}, "sms")
    assert not result.passed
    assert result.untraceable_claims == ["Kestrel: take 40% off every jacket this week."]


def test_invented_price_is_untraceable_but_catalog_price_is_not(store: BrandStore) -> None:
    wrong = score_content(store, {"title": "Beacon 400", "body": "Now only £19.00."}, "push")
    right = score_content(
        store, {"title": "Beacon 400", "body": "The Beacon 400 Front Light is £39.00."}, "push"
    )
    assert wrong.untraceable_claims and not wrong.passed
    assert right.untraceable_claims == []


def test_sms_without_opt_out_and_too_long_fails(store: BrandStore) -> None:
    text = "Kestrel: your basket is waiting for you. " * 5
    result = score_content(store, {"text": text}, "sms")
    kinds = {r.split(":", 1)[0] for r in result.reasons}
    assert {"missing_disclaimer", "too_long"} <= kinds
    assert not result.passed


def test_sms_outside_gsm7_fails_whatever_its_score_and_names_the_characters(
    store: BrandStore,
) -> None:
    curly = ON_BRAND_SMS.replace("your basket", "your basket\u2019s contents").replace(
        ".", " \U0001f6b2.", 1
    )
    result = score_content(store, {"text": curly}, "sms")
    [reason] = [r for r in result.reasons if r.startswith("not_gsm7")]
    assert "'\u2019'" in reason and "'\U0001f6b2'" in reason
    assert not result.passed


def test_sms_over_one_segment_fails_counting_extension_characters_twice(
    store: BrandStore,
) -> None:
    assert gsm7_septets("Code [A1] ~ 5\u20ac") == 14 + 4 and gsm7_septets("café") == 4
    assert gsm7_septets("smart \u201cquotes\u201d") is None
    fits = ON_BRAND_SMS + " Thanks." * 6
    over = ON_BRAND_SMS + " [~]" * 10  # 147 characters, 177 septets
    assert gsm7_septets(fits) == len(fits) <= 160
    assert len(over) <= 160 < (gsm7_septets(over) or 0)
    fitting = score_content(store, {"text": fits}, "sms")
    too_long = score_content(store, {"text": over}, "sms")
    assert not any(r.startswith("sms_too_long") for r in fitting.reasons)
    assert any(r.startswith("sms_too_long") for r in too_long.reasons)
    assert not too_long.passed


def test_email_needs_postal_address_and_unsubscribe(store: BrandStore) -> None:
    content = {
        "subject": "Your basket is waiting for you",
        "preheader": "We kept your items safe.",
        "body_text": "You left something in your basket.",
        "cta_text": "Return to your basket",
    }
    result = score_content(store, content, "email")
    assert "missing_disclaimer: postal address" in result.reasons
    assert "missing_disclaimer: unsubscribe link" in result.reasons


def test_shouting_hype_scores_below_calm_copy(store: BrandStore) -> None:
    calm = score_content(
        store,
        {"title": "Darker evenings", "body": "The Beacon 400 gives you four hours of light."},
        "push",
    )
    hype = score_content(
        store, {"title": "HUGE SALE TODAY", "body": "INCREDIBLE deals!!! Hurry up!!!"}, "push"
    )
    assert calm.score > hype.score + 0.3
    assert any(r.startswith("shouting") for r in hype.reasons)


def test_reading_grade_rises_with_long_words() -> None:
    assert reading_grade("We ride. You rest.") < reading_grade(
        "Comprehensive institutional configuration necessitates extraordinary administrative "
        "deliberation."
    )
