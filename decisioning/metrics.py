"""Quality figures for probability scores: AUC (rank-based), Brier score, calibration error."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

__all__ = ["auc", "brier", "expected_calibration_error"]


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count half)."""
    labels = np.asarray(labels).astype(bool)
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        raise ValueError("labels: need both classes to compute AUC")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def brier(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(np.mean((np.asarray(scores) - np.asarray(labels)) ** 2))


def expected_calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean score| over equal-width score bins, weighted by bin size."""
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    which = np.minimum((scores * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(labels[mask].mean() - scores[mask].mean())
    return float(total / len(scores))
