"""Narrow the tool choice before any model sees it: a small classifier over example requests.

Each tool (and `refuse`) is represented by its example requests (intents.py). Features are
TF-IDF over words and character n-grams (robust to typos and inflections) and, when an
embedder is given (MiniLM ONNX from brand/), sentence embeddings. A logistic regression
ranks the intents (`score`, a probability); the nearest example's similarity (`similarity`)
says whether the request resembles anything we serve at all. The router ranks every tool,
including ones the caller's role may not use, so the agent can say why it will not act.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from agents.chat.intents import EXAMPLES, REFUSE

__all__ = ["Embedder", "Ranked", "ToolRouter"]

Embedder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Ranked:
    """One intent (a tool name or `refuse`): classifier probability and nearest-example
    similarity, both in [0, 1]."""

    intent: str
    score: float
    similarity: float


class ToolRouter:
    """Ranks intents for a request; fits in well under a second, then ~1 ms a query."""

    def __init__(
        self,
        examples: dict[str, list[str]] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        examples = examples or EXAMPLES
        self._labels = [intent for intent, phrases in examples.items() for _ in phrases]
        texts = [p.lower() for phrases in examples.values() for p in phrases]
        self._tfidf = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                (
                    "chars",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True),
                ),
            ]
        )
        self._embedder = embedder
        features = self._features(texts, fit=True)
        self._examples = features
        self._model = LogisticRegression(C=10.0, max_iter=5000).fit(features, self._labels)
        self.intents = [str(c) for c in self._model.classes_]

    def _features(self, texts: list[str], fit: bool = False) -> sparse.csr_matrix:
        tfidf = self._tfidf.fit_transform(texts) if fit else self._tfidf.transform(texts)
        blocks = [tfidf]
        if self._embedder is not None:
            dense = np.asarray(self._embedder(texts), dtype=float)
            dense /= np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-9)
            blocks.append(sparse.csr_matrix(dense))
        # every block (words, chars, embedding) has unit norm: scale rows back to unit norm
        parts = 2 + (len(blocks) - 1)
        return sparse.csr_matrix(sparse.hstack(blocks) / np.sqrt(parts))

    def rank(self, text: str) -> list[Ranked]:
        """Every intent, most probable first."""
        query = self._features([text.lower()])
        probs = self._model.predict_proba(query)[0]
        sims = np.asarray((self._examples @ query.T).todense()).ravel()
        nearest: dict[str, float] = {}
        for label, sim in zip(self._labels, sims, strict=True):
            nearest[label] = max(nearest.get(label, 0.0), float(sim))
        ranked = [
            Ranked(i, float(p), nearest.get(i, 0.0))
            for i, p in zip(self.intents, probs, strict=True)
        ]
        return sorted(ranked, key=lambda r: -r.score)

    def candidates(self, text: str, allowed: Sequence[str], k: int = 3) -> list[Ranked]:
        """The `k` most probable tools among `allowed` (never `refuse`)."""
        return [r for r in self.rank(text) if r.intent in allowed and r.intent != REFUSE][:k]
