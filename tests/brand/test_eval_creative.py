"""`cjo eval creative` at tiny sizes: figures exist, AUC separates the set, cache bounds calls."""

from __future__ import annotations

import json
from typing import Any

from brand.store import BrandStore
from core.llm import Completion, LlmClient
from evals.suites.creative import auc, generate, score_labelled

DRAFTS = {
    "text": {"text": "Kestrel: your basket is still there when you are ready to ride."},
    "title": {"title": "Your basket is waiting", "body": "It is still there when you are ready."},
    "subject": {
        "subject": "Your basket is waiting for you",
        "preheader": "We kept your items safe until you are ready to ride.",
        "body": "You left something in your basket. It is still there when you are ready to ride.",
        "cta_text": "Return to your basket",
    },
}


class SchemaAwareBackend:
    """Answers every request with an on-brand draft shaped like the requested schema."""

    name = "schema-aware"
    model = "schema-aware"

    def complete(
        self, messages: list[dict[str, str]], schema: dict[str, Any], **_: Any
    ) -> Completion:
        fields = schema["properties"]
        key = next(k for k in DRAFTS if k in fields)
        return Completion(json.dumps(DRAFTS[key]), 300, 30)


def test_auc_counts_ties_as_half() -> None:
    assert auc([0.9, 0.1], [1, 0]) == 1.0
    assert auc([0.5, 0.5], [1, 0]) == 0.5


def test_labelled_set_is_separated(store: BrandStore) -> None:
    figures = score_labelled(store)
    assert figures["labelled_items"] == 40
    assert figures["conformance_auc"] >= 0.9


def test_generation_figures_with_variant_cache(store: BrandStore) -> None:
    llm = LlmClient(SchemaAwareBackend())
    figures = generate(store, llm, n_actions=120)
    assert figures["untraceable_claims"] == 0
    # at most one draft per (action, channel) prompt: 3 x 3, far below one call per action
    assert 0 < figures["llm_calls_per_1000_actions"] <= 9 * 1000 / 120
    assert (
        figures["first_draft_pass_rate"] + figures["revised_pass_rate"] + figures["fallback_rate"]
        == 1.0
    )
    assert figures["variant_cache_hit_rate"] > 0.5
