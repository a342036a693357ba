"""Off-policy evaluation: what would a new policy have earned on logs another policy wrote?

Estimators (per logged row i with action a_i, reward r_i, logging propensity p_i, target
probability pi_i = pi(a_i | x_i), and a reward model q):
  IPS   mean(pi_i / p_i * r_i)                            unbiased, high variance
  SNIPS sum(w_i r_i) / sum(w_i)                             self-normalised, lower variance
  DR    mean(sum_a pi(a|x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i)))   unbiased if either part is right
Intervals: percentile bootstrap over rows (95%). The same `OffPolicyData` is built from the
Open Bandit Dataset (obd.py) and from cjo's own decisions (ope_logs.py, model arm only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Interval", "OffPolicyData", "estimate_all"]


@dataclass(frozen=True)
class OffPolicyData:
    """Aligned per-row arrays; `direct` = sum_a pi(a|x) q(x, a), `q_logged` = q(x, a_logged)."""

    rewards: np.ndarray
    pscore: np.ndarray
    target_p: np.ndarray
    direct: np.ndarray
    q_logged: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.rewards)
        for name in ("pscore", "target_p", "direct", "q_logged"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: length {len(getattr(self, name))}, rewards have {n}")
        if n and np.any(self.pscore <= 0):
            raise ValueError("pscore: logging propensities must be > 0")

    @property
    def weights(self) -> np.ndarray:
        return self.target_p / self.pscore


@dataclass(frozen=True)
class Interval:
    value: float
    lo: float
    hi: float


def _estimates(
    w: np.ndarray, r: np.ndarray, dr_terms: np.ndarray, idx: np.ndarray
) -> dict[str, np.ndarray]:
    """Each estimator on every bootstrap resample (rows of `idx`) at once."""
    wr = (w * r)[idx]
    ws = w[idx].sum(axis=-1)
    return {
        "ips": wr.mean(axis=-1),
        "snips": np.divide(wr.sum(axis=-1), ws, out=np.zeros_like(ws), where=ws > 0),
        "dr": dr_terms[idx].mean(axis=-1),
        "logged": r[idx].mean(axis=-1),
    }


def estimate_all(
    data: OffPolicyData, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, Interval]:
    """IPS, SNIPS, DR and the logged mean reward, each with a bootstrap interval."""
    n = len(data.rewards)
    if n == 0:
        raise ValueError("rewards: no logged rows to evaluate")
    w = data.weights
    r = data.rewards.astype(float)
    dr_terms = data.direct + w * (r - data.q_logged)
    point = _estimates(w, r, dr_terms, np.arange(n)[None, :])
    rng = np.random.default_rng(seed)
    tail = (1 - level) / 2 * 100
    out: dict[str, Interval] = {}
    boots: dict[str, list[np.ndarray]] = {k: [] for k in point}
    chunk = max(1, 2_000_000 // n)  # bounded memory: resample in chunks
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        for key, values in _estimates(w, r, dr_terms, idx).items():
            boots[key].append(values)
    for key, value in point.items():
        samples = np.concatenate(boots[key])
        lo, hi = np.percentile(samples, [tail, 100 - tail])
        out[key] = Interval(float(value[0]), float(lo), float(hi))
    return out
