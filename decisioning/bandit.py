"""Per-action response propensity learned online: disjoint LinUCB over profile features.

Each action keeps A = lambda*I + sum(x x^T) and b = sum((reward - prior) x); the estimate is
P(response | x) = prior + theta.x with theta = A^-1 b, so a new action starts at the catalog's
`base_propensity` and moves as outcomes arrive. The UCB bonus alpha*sqrt(x^T A^-1 x) favours
actions the model knows little about. A linear model also explains itself: theta_i * x_i is
feature i's contribution, which the decision explanation lists.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from decisioning.features import FEATURE_NAMES

__all__ = ["MODEL_NAME", "ArmStack", "ArmState", "BanditModel", "Estimate"]

MODEL_NAME = "linucb-v1"
DIM = len(FEATURE_NAMES)
RIDGE = 1.0


@dataclass
class ArmState:
    """Sufficient statistics of one action's linear model."""

    a_matrix: np.ndarray = field(default_factory=lambda: RIDGE * np.eye(DIM))
    b_vector: np.ndarray = field(default_factory=lambda: np.zeros(DIM))
    n_updates: int = 0
    reward_sum: float = 0.0

    def __post_init__(self) -> None:
        self._refresh()

    @classmethod
    def fresh(cls, dim: int, ridge: float = RIDGE) -> ArmState:
        return cls(ridge * np.eye(dim), np.zeros(dim))

    def _refresh(self) -> None:
        self.a_inv = np.linalg.inv(self.a_matrix)
        self.theta = self.a_inv @ self.b_vector

    def update(self, x: np.ndarray, reward: float, prior: float) -> None:
        self.a_matrix = self.a_matrix + np.outer(x, x)
        self.b_vector = self.b_vector + (reward - prior) * x
        self.n_updates += 1
        self.reward_sum += reward
        self._refresh()

    def to_json(self) -> dict[str, Any]:
        return {
            "a_matrix": self.a_matrix.tolist(),
            "b_vector": self.b_vector.tolist(),
            "n_updates": self.n_updates,
            "reward_sum": self.reward_sum,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArmState:
        a = np.asarray(data["a_matrix"], dtype=float)
        b = np.asarray(data["b_vector"], dtype=float)
        if a.shape != (DIM, DIM) or b.shape != (DIM,):  # feature set changed: start afresh
            return cls()
        return cls(a, b, int(data.get("n_updates", 0)), float(data.get("reward_sum", 0.0)))


@dataclass(frozen=True)
class Estimate:
    """P(response) for one action and context, with its exploration bonus and drivers."""

    p_response: float
    bonus: float
    contributions: dict[str, float]


class BanditModel:
    """LinUCB states of all actions; unknown actions behave as fresh (prior only)."""

    def __init__(
        self,
        arms: dict[str, ArmState] | None = None,
        alpha: float = 0.05,
        dim: int = DIM,
        ridge: float = RIDGE,
    ) -> None:
        self.arms: dict[str, ArmState] = arms or {}
        self.alpha = alpha
        self.dim = dim
        self.ridge = ridge
        self._fresh = ArmState.fresh(dim, ridge)
        self._updates = 0  # bumped by update(): cached stacks older than this are stale
        self._stacks: dict[tuple[str, ...], ArmStack] = {}

    @property
    def version(self) -> str:
        return f"{MODEL_NAME}@{self.n_updates}"

    @property
    def n_updates(self) -> int:
        return sum(arm.n_updates for arm in self.arms.values())

    def arm(self, action_id: str) -> ArmState:
        return self.arms.get(action_id, self._fresh)

    def estimate(self, action_id: str, x: np.ndarray, prior: float) -> Estimate:
        arm = self.arm(action_id)
        terms = arm.theta * x
        p = float(min(max(prior + terms.sum(), 0.0), 1.0))
        bonus = self.alpha * float(np.sqrt(max(x @ arm.a_inv @ x, 0.0)))
        contributions = (
            {n: round(t, 5) for n, t in zip(FEATURE_NAMES, terms.tolist(), strict=True) if t}
            if self.dim == DIM
            else {}
        )
        return Estimate(p, bonus, contributions)

    def stack(self, action_ids: tuple[str, ...]) -> ArmStack:
        """These actions' states as arrays, cached until the model next learns something."""
        cached = self._stacks.get(action_ids)
        if cached is None or cached.updates != self._updates:
            cached = ArmStack(self, action_ids)
            self._stacks[action_ids] = cached
        return cached

    def update(self, action_id: str, x: np.ndarray, reward: float, prior: float) -> None:
        self.arms.setdefault(action_id, ArmState.fresh(self.dim, self.ridge)).update(
            x, reward, prior
        )
        self._updates += 1

    def fit(self, rows: Iterable[tuple[str, np.ndarray, float, float]]) -> BanditModel:
        """Replay logged (action, x, reward, prior) rows into the model; returns self."""
        for action_id, x, reward, prior in rows:
            self.update(action_id, x, reward, prior)
        return self


class ArmStack:
    """Several actions' LinUCB states stacked, to estimate the candidates of a decision at once.

    Arbitration scores every action that passed the filters; one array operation over those
    rows replaces a handful of small numpy calls per action (the per-call overhead was most of
    the scoring cost). Same numbers as `BanditModel.estimate` up to float rounding order.
    """

    def __init__(self, model: BanditModel, action_ids: tuple[str, ...]) -> None:
        arms = [model.arm(a) for a in action_ids]
        self.updates = model._updates
        self.alpha = model.alpha
        self.named = model.dim == DIM
        self.thetas = np.stack([a.theta for a in arms])  # (K, d)
        self.a_invs = np.stack([a.a_inv for a in arms])  # (K, d, d)

    def estimate(self, rows: list[int], x: np.ndarray, priors: list[float]) -> list[Estimate]:
        """Estimates for the actions at `rows` (positions in the stacked ids), with priors."""
        if not rows:
            return []
        terms = self.thetas[rows] * x  # (k, d)
        totals = terms.sum(axis=1).tolist()
        quad = ((x @ self.a_invs[rows]) @ x).tolist()
        out = []
        for prior, total, q, row in zip(priors, totals, quad, terms.tolist(), strict=True):
            p = min(max(prior + total, 0.0), 1.0)
            bonus = self.alpha * math.sqrt(max(q, 0.0))
            contributions = (
                {n: round(t, 5) for n, t in zip(FEATURE_NAMES, row, strict=True) if t}
                if self.named
                else {}
            )
            out.append(Estimate(p, bonus, contributions))
        return out


def top_contributions(contributions: dict[str, float], k: int = 3) -> list[dict[str, float | str]]:
    """The k features that moved the estimate most, largest first."""
    ranked = sorted(contributions.items(), key=lambda kv: -abs(kv[1]))[:k]
    return [{"feature": name, "contribution": value} for name, value in ranked]
