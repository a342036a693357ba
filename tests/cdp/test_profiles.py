"""Profiles and computed traits after processing, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cdp.pipeline import drain
from cdp.profiles import get_profile_view
from cdp.triggers import TriggerSet
from tests.cdp.factories import T0, identify, ingest, order, track

NO_RULES = TriggerSet()


def test_orders_add_up_and_traits_are_filled(engine: Engine) -> None:
    ingest(
        engine,
        identify("u1", 0, email="Ann@Example.com", firstName="Ann", phone="+1 202 555 0147"),
        order("u1", 10, 20.5),
        order("u1", 60 * 24 * 3, 9.5),
        track("Product Added", "u1", 60 * 24 * 4, price=5.0, quantity=2),
    )
    assert drain(engine, rules=NO_RULES) == 4
    with Session(engine) as session:
        view = get_profile_view(session, "ann@example.com", as_of=T0 + timedelta(days=10))
    assert view is not None
    c = view.computed
    assert c["order_count"] == 2 and c["order_value"] == 30.0
    assert c["frequency"] == 1 and c["monetary"] == 15.0
    assert c["recency_days"] == 7
    assert c["open_cart"]["items"] == 2 and c["open_cart"]["value"] == 10.0
    assert c["lifecycle_stage"] == "active"
    assert "churn_risk" not in c
    assert view.traits["first_name"] == "Ann"
    assert view.phone == "+12025550147"
    assert view.identities["email"] == ["ann@example.com"]
    assert view.consent["email"]["status"] == "implied"
    assert view.consent["email"]["basis"] == "purchase"


def test_processing_twice_changes_nothing(sqlite_engine: Engine) -> None:
    msgs = [order("u2", 0, 5.0), order("u2", 5, 6.0)]
    assert ingest(sqlite_engine, *msgs) == [True, True]
    drain(sqlite_engine, rules=NO_RULES)
    assert ingest(sqlite_engine, *msgs) == [False, False]
    assert drain(sqlite_engine, rules=NO_RULES) == 0
    with Session(sqlite_engine) as session:
        view = get_profile_view(session, "u2")
    assert view is not None and view.computed["order_count"] == 2
