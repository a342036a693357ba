"""The churn model sees the same inputs in production as in training, by definition.

Training summarises CDNOW purchases before the cut-off (decisioning/cdnow.py); production reads
the profile the CDP folded from the same purchases (cdp/traits.py). For the same customer at the
same cut-off the feature vectors must be identical, not merely close.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session

from cdp.datasets import cdnow_messages
from cdp.importer import import_messages
from cdp.pipeline import drain
from cdp.profiles import get_profile_view
from core.db import make_engine, migrate
from decisioning.cdnow import CUTOFF, load_cdnow
from decisioning.churn import CHURN_FEATURES, churn_features

CUTOFF_AT = datetime(CUTOFF.year, CUTOFF.month, CUTOFF.day, tzinfo=UTC)


def _sample(split_ids: list[str], orders: dict[str, int]) -> list[str]:
    """One-order customers and repeat buyers (same-day repeats included), fixed choice."""
    repeat = [c for c in split_ids if orders[c] >= 3][:12]
    single = [c for c in split_ids if orders[c] == 1][:6]
    return sorted(repeat + single)


def test_cdp_profile_gives_the_training_feature_vector(tmp_path: Path) -> None:
    split = load_cdnow()
    index = {cid: i for i, cid in enumerate(split.customer_ids)}
    orders = {cid: int(split.computed[i]["order_count"]) for cid, i in index.items()}  # type: ignore[call-overload]
    chosen = _sample(split.customer_ids, orders)
    wanted = {f"cdnow-{c}" for c in chosen}
    messages = [
        m
        for m in cdnow_messages()
        if m["userId"] in wanted and datetime.fromisoformat(m["timestamp"]) < CUTOFF_AT
    ]
    engine = make_engine(f"sqlite:///{tmp_path / 'cdnow.db'}")
    migrate(engine)
    assert import_messages(engine, enumerate(messages, 1)).accepted == len(messages)
    drain(engine, now=CUTOFF_AT)
    with Session(engine) as session:
        for cid in chosen:
            view = get_profile_view(session, f"cdnow-{cid}", as_of=CUTOFF_AT)
            assert view is not None, cid
            trained = churn_features(split.computed[index[cid]])
            served = churn_features(view.computed)
            assert served.tolist() == trained.tolist(), (cid, list(CHURN_FEATURES))
    engine.dispose()


def test_total_spend_is_read_from_order_value_and_average_from_monetary() -> None:
    """The CDP's meanings: `order_value` is the sum of orders, `monetary` their average."""
    names = list(CHURN_FEATURES)
    full = churn_features({"recency_days": 10, "order_count": 4, "order_value": 200.0})
    assert full[names.index("log_monetary")] == pytest.approx(np.log1p(200.0))
    assert full[names.index("log_avg_order_value")] == pytest.approx(np.log1p(50.0))
    only_average = churn_features({"recency_days": 10, "order_count": 4, "monetary": 50.0})
    assert only_average.tolist() == full.tolist()
