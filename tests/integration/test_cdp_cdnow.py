"""Done-when: replaying all of CDNOW gives 23,570 customers with exact order counts and totals,
and replaying it a second time changes nothing."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from sqlmodel import Session, select

from cdp.datasets import cdnow_messages, cdnow_rows
from cdp.importer import import_messages
from cdp.pipeline import drain
from core.db import make_engine, migrate
from core.tables import Identity, Profile

pytestmark = pytest.mark.slow


def _profiles(session: Session) -> dict[str, tuple[int, float, str]]:
    owner = {i.customer_id: i.value for i in session.exec(select(Identity))}
    return {
        owner[p.customer_id]: (
            p.computed["order_count"],
            p.computed["order_value"],
            p.computed["last_order_at"],
        )
        for p in session.exec(select(Profile))
    }


def test_cdnow_replay_matches_the_file_and_is_idempotent(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cdnow.db'}")
    migrate(engine)
    expected: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for row in cdnow_rows():
        expected[f"cdnow-{row.customer}"][0] += 1
        expected[f"cdnow-{row.customer}"][1] += row.dollars
    first = import_messages(engine, enumerate(cdnow_messages(), 1))
    assert first.accepted == 69_659 and first.invalid == 0
    assert drain(engine, batch=2000) == 69_659
    with Session(engine) as session:
        profiles = _profiles(session)
    assert len(profiles) == 23_570
    mismatched = [
        uid
        for uid, (count, total) in expected.items()
        if profiles[uid][0] != count or round(profiles[uid][1], 2) != round(total, 2)
    ]
    assert mismatched == []

    second = import_messages(engine, enumerate(cdnow_messages(), 1))
    assert second.accepted == 0 and second.duplicates == 69_659
    assert drain(engine) == 0
    with Session(engine) as session:
        assert _profiles(session) == profiles
    engine.dispose()
