"""Churn risk from a profile's computed traits: a logistic model trained on CDNOW.

Label: no purchase in the 39 weeks after the cut-off (1997-10-01). Features are what any CDP
profile holds (recency, order count, spend, tenure), log-scaled and standardised, so the model
scores live profiles as well as the training data, and each feature's contribution (coef x value)
explains a score. The trained model is a small JSON file under `data_dir/models`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.audit import digest

__all__ = [
    "AVERAGE_ORDER",
    "CHURN_FEATURES",
    "TOTAL_SPEND",
    "ChurnModel",
    "churn_features",
    "load_or_train",
    "train",
]

CHURN_FEATURES = (
    "log_recency_days",
    "log_order_count",
    "log_monetary",
    "log_tenure_days",
    "log_avg_order_value",
    "recency_share_of_tenure",
)
MODEL_FILE = "churn_cdnow_v1.json"


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


# The CDP's computed traits, by meaning (cdp/traits.py, docs/cdp.md); cdnow.py writes the same.
TOTAL_SPEND = "order_value"  # sum of all orders
AVERAGE_ORDER = "monetary"  # average order value


def churn_features(computed: dict[str, Any]) -> np.ndarray:
    """The raw feature vector (CHURN_FEATURES order) from a profile's computed traits.

    Fields are read by their CDP meaning: total spend is `order_value`, the average order is
    `monetary` (used only when the total is missing). Missing traits degrade gracefully: no
    order count means one order, no recency means a year, no first/last order dates mean
    tenure equals recency.
    """
    recency = _num(computed.get("recency_days"))
    recency = 365.0 if recency is None else max(recency, 0.0)
    orders = _num(computed.get("order_count"))
    if orders is None:
        freq = _num(computed.get("frequency"))
        orders = (freq + 1) if freq is not None else 1.0
    orders = max(orders, 1.0)
    total = _num(computed.get(TOTAL_SPEND))
    if total is None:
        total = (_num(computed.get(AVERAGE_ORDER)) or 0.0) * orders
    total = max(total, 0.0)
    first, last = _day(computed.get("first_order_at")), _day(computed.get("last_order_at"))
    span = (last - first).days if first and last and last >= first else 0
    tenure = recency + span
    return np.array(
        [
            math.log1p(recency),
            math.log1p(orders),
            math.log1p(total),
            math.log1p(tenure),
            math.log1p(total / orders),
            recency / tenure if tenure > 0 else 1.0,
        ]
    )


@dataclass(frozen=True)
class ChurnModel:
    """Standardised logistic regression; `score` is P(no purchase in the next 39 weeks)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    trained_on: str = "cdnow"

    @property
    def version(self) -> str:
        return "churn-cdnow-" + digest([self.mean, self.scale, self.coef, self.intercept])[:8]

    def _z(self, raw: np.ndarray) -> np.ndarray:
        return (raw - np.asarray(self.mean)) / np.asarray(self.scale)

    def score_many(self, raw: np.ndarray) -> np.ndarray:
        logits = self._z(raw) @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))

    def score(self, computed: dict[str, Any]) -> float:
        """Churn risk in [0, 1] for one profile's computed traits."""
        return float(self.score_many(churn_features(computed)[None, :])[0])

    def explain(self, computed: dict[str, Any], k: int = 3) -> dict[str, Any]:
        """The score with the k features that pushed it most (contribution to the logit)."""
        terms = self._z(churn_features(computed)) * np.asarray(self.coef)
        ranked = sorted(zip(CHURN_FEATURES, terms, strict=True), key=lambda t: -abs(t[1]))[:k]
        return {
            "score": round(self.score(computed), 5),
            "model_version": self.version,
            "contributions": [{"feature": n, "logit": round(float(t), 4)} for n, t in ranked],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "trained_on": self.trained_on,
            "features": list(CHURN_FEATURES),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChurnModel:
        if data.get("features") != list(CHURN_FEATURES):
            raise ValueError("churn model file has another feature set; retrain")
        return cls(
            tuple(data["mean"]),
            tuple(data["scale"]),
            tuple(data["coef"]),
            float(data["intercept"]),
            str(data.get("trained_on", "cdnow")),
        )


def train(raw: np.ndarray, labels: np.ndarray) -> ChurnModel:
    """Fit the logistic model on raw feature rows (CHURN_FEATURES) and 0/1 churn labels."""
    from sklearn.linear_model import LogisticRegression

    mean = raw.mean(axis=0)
    scale = raw.std(axis=0)
    scale[scale == 0] = 1.0
    fitted = LogisticRegression(C=1.0, max_iter=1000).fit((raw - mean) / scale, labels)
    return ChurnModel(
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in fitted.coef_[0]),
        float(fitted.intercept_[0]),
    )


def load_or_train(data_dir: Path) -> ChurnModel:
    """The cached model under `data_dir/models`, trained on CDNOW's train split if absent."""
    path = data_dir / "models" / MODEL_FILE
    if path.exists():
        try:
            return ChurnModel.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, json.JSONDecodeError):
            pass  # stale or damaged cache: retrain below
    from decisioning.cdnow import load_cdnow

    split = load_cdnow()
    raw = np.array([churn_features(c) for c in split.computed])
    train_rows = ~split.is_test
    model = train(raw[train_rows], split.churned[train_rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(model.to_json(), indent=2), encoding="utf-8")
    tmp.replace(path)
    return model
