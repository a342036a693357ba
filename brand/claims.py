"""Claim tracing: every factual claim in copy must come from the brand kit.

A sentence is a claim when it states a number, a price, a percentage or uses a promise word
(free, guarantee, warranty, best, ...). It is traceable when every figure in it appears in the
kit's approved text (claims, catalog, offers) and, for promise words, when it is close in meaning
to an approved claim, product or offer, or quotes one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from brand.store import BrandStore

__all__ = ["ClaimTrace", "approved_corpus", "claim_sentences", "trace_claims"]

_FIGURE = re.compile(r"[£$€]\s?\d[\d,.]*|\d+(?:[.,]\d+)?\s?%|\b\d[\d,.]*\b")
_PROMISE = re.compile(
    r"\b(free|guarantee[sd]?|warrant(y|ies)|best|fastest|lightest|safest|cheapest|lowest|"
    r"#1|number one|proven|certified|lifetime|never|always|only|save|off|discount|refunds?)\b",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://\S+|\{\{\s*\w+\s*\}\}")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
SIMILARITY_FLOOR = 0.55


class ClaimTrace(tuple[str, str | None]):
    """(sentence, kit ref or None when untraceable)."""


def claim_sentences(text: str) -> list[str]:
    """Sentences of `text` that assert a figure or make a promise."""
    text = _URL.sub(" ", text)
    parts = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    return [s for s in parts if _FIGURE.search(s) or _PROMISE.search(s)]


def approved_corpus(store: BrandStore) -> list[tuple[str, str]]:
    """(ref, text) of everything copy may state as fact."""
    kit = store.kit
    corpus = [(c.id, c.text) for c in kit.claims]
    corpus += [(p.sku, f"{p.name} {p.price} {p.description}") for p in kit.products]
    corpus += [(o.id, f"{o.title}. {o.terms}") for o in kit.offers]
    corpus += [(f"disclaimer:{ch}", " ".join(lines)) for ch, lines in kit.disclaimers.items()]
    corpus.append(("postal_address", kit.postal_address))
    return corpus


def _figures(text: str) -> set[str]:
    return {re.sub(r"\s", "", m.group(0)).rstrip(".,") for m in _FIGURE.finditer(text)}


def trace_claims(store: BrandStore, text: str) -> list[tuple[str, str | None]]:
    """Each claim sentence in `text` with the kit ref that supports it (None: untraceable)."""
    sentences = claim_sentences(text)
    if not sentences:
        return []
    corpus = approved_corpus(store)
    allowed_figures = set().union(*(_figures(t) for _, t in corpus))
    vectors = store.cached_vectors("approved_corpus", [t for _, t in corpus])
    sims = store.embed(sentences) @ vectors.T
    lowered = [t.lower() for _, t in corpus]
    out: list[tuple[str, str | None]] = []
    for i, sentence in enumerate(sentences):
        if not _figures(sentence) <= allowed_figures:
            out.append((sentence, None))
            continue
        quoted = next((corpus[j][0] for j, t in enumerate(lowered) if sentence.lower() in t), None)
        best = int(np.argmax(sims[i]))
        if quoted:
            out.append((sentence, quoted))
        elif _PROMISE.search(sentence) and sims[i][best] < SIMILARITY_FLOOR:
            out.append((sentence, None))
        else:
            out.append((sentence, corpus[best][0]))
    return out
