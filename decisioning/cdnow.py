"""CDNOW purchase history as churn training data: features up to a cut-off, label after it.

The file ships inside the `lifetimes` package; it is located with `find_spec` and read as text
(importing lifetimes would pull its old dependencies). Customers are split into train and test
by a hash of their id, so the split is the same in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from decisioning.holdout import bucket

__all__ = ["CUTOFF", "HOLDOUT_END", "CdnowSplit", "cdnow_path", "load_cdnow"]

CUTOFF = date(1997, 10, 1)
HOLDOUT_END = date(1998, 6, 30)
TEST_SHARE = 0.3


def cdnow_path() -> Path:
    """CDNOW_master.txt inside the installed lifetimes package (FileNotFoundError if absent)."""
    spec = find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("CDNOW data needs the `lifetimes` package (requirements-data.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_master.txt"
    if not path.exists():
        raise FileNotFoundError(f"CDNOW file missing: {path}")
    return path


@dataclass
class CdnowSplit:
    """Per-customer calibration-period summaries and holdout labels (arrays aligned by row)."""

    customer_ids: list[str]
    computed: list[dict[str, object]]  # the CDP's computed traits at the cut-off, same keys
    x: np.ndarray  # repeat purchase days (BG/NBD)
    t_x: np.ndarray  # weeks from first to last purchase
    big_t: np.ndarray  # weeks from first purchase to the cut-off
    churned: np.ndarray  # 1 = no purchase in the holdout window
    is_test: np.ndarray  # bool

    @property
    def holdout_weeks(self) -> float:
        return (HOLDOUT_END - CUTOFF).days / 7.0


def load_cdnow(path: Path | None = None) -> CdnowSplit:
    """Summarise each customer at `CUTOFF`; label 1 = no purchase up to HOLDOUT_END."""
    orders: dict[str, list[tuple[date, float]]] = {}
    with (path or cdnow_path()).open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            parts = line.split()
            if len(parts) != 4:
                continue
            cid, day, _, dollars = parts
            d = datetime.strptime(day, "%Y%m%d").date()
            orders.setdefault(cid, []).append((d, float(dollars)))
    ids, computed, xs, txs, ts, labels, test = [], [], [], [], [], [], []
    for cid, rows in sorted(orders.items()):
        before = [r for r in rows if r[0] < CUTOFF]
        if not before:
            continue
        days = sorted({d for d, _ in before})
        first, last = days[0], days[-1]
        total = sum(v for _, v in before)
        after = any(CUTOFF <= d <= HOLDOUT_END for d, _ in rows)
        ids.append(cid)
        computed.append(
            {
                "recency_days": (CUTOFF - last).days,
                "order_count": len(before),
                "frequency": len(days) - 1,
                "order_value": round(total, 2),  # the CDP's meanings: total spend ...
                "monetary": round(total / len(before), 2),  # ... and the average order
                "first_order_at": first.isoformat(),
                "last_order_at": last.isoformat(),
            }
        )
        xs.append(len(days) - 1)
        txs.append((last - first).days / 7.0)
        ts.append((CUTOFF - first).days / 7.0)
        labels.append(0 if after else 1)
        test.append(bucket("cdnow-split", cid) < TEST_SHARE)
    return CdnowSplit(
        customer_ids=ids,
        computed=computed,
        x=np.array(xs, dtype=float),
        t_x=np.array(txs),
        big_t=np.array(ts),
        churned=np.array(labels),
        is_test=np.array(test),
    )
