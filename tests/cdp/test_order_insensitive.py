"""Profiles do not depend on the order events are processed in, only on their timestamps.

Two workers, or an event that arrives late, can hand a customer's events to the fold out of
timestamp order; the stored profile must come out the same for every order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cdp.events import MESSAGE_ADAPTER, event_row
from cdp.pipeline import drain
from cdp.profiles import ProfileState, apply_to_profile, get_profile_view
from cdp.traits import public_traits
from cdp.triggers import TriggerSet
from core.tables import Event, Profile
from tests.cdp.factories import T0, identify, ingest, track

NO_RULES = TriggerSet()
_T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_CENTS = st.integers(0, 5000).map(lambda c: c / 100)
_TRAIT_VALUES: dict[str, Any] = {
    "firstName": st.sampled_from(["Ann", "Bob"]),
    "plan": st.sampled_from(["free", "pro"]),
    "email": st.sampled_from(["p1@example.com", "P1.Other@Example.com"]),
    "timezone": st.sampled_from(["Europe/Paris", "Asia/Tokyo"]),
    "email_opt_in": st.booleans(),
    "sms_opt_in": st.booleans(),
    "unsubscribed": st.just(True),
}


@st.composite
def _message(draw: st.DrawFn, index: int) -> dict[str, Any]:
    # A narrow time range on purpose: many events share a timestamp, ties must be settled too.
    minute = draw(st.integers(0, 15))
    msg: dict[str, Any] = {
        "messageId": f"p{index}",
        "userId": "p1",
        "timestamp": (_T + timedelta(minutes=minute)).isoformat(),
    }
    kind = draw(
        st.sampled_from(
            [
                "identify",
                "Product Added",
                "Product Removed",
                "Order Completed",
                "Cart Cleared",
                "Subscribed",
                "Unsubscribed",
                "Email Opened",
                "SMS Link Clicked",
                "Inbound Message Received",
                "page",
            ]
        )
    )
    if draw(st.booleans()):
        context: dict[str, Any] = {}
        if draw(st.booleans()):
            context["timezone"] = draw(st.sampled_from(["America/Chicago", "Europe/London"]))
        if draw(st.booleans()):
            context["locale"] = draw(st.sampled_from(["en-US", "fr-FR"]))
        if draw(st.booleans()):
            context["traits"] = {"plan": draw(_TRAIT_VALUES["plan"])}
        msg["context"] = context
    if kind == "identify":
        keys = draw(st.lists(st.sampled_from(sorted(_TRAIT_VALUES)), unique=True, max_size=4))
        return {**msg, "type": "identify", "traits": {k: draw(_TRAIT_VALUES[k]) for k in keys}}
    if kind == "page":
        return {**msg, "type": "page", "name": "Home"}
    props: dict[str, Any] = {}
    if kind in ("Product Added", "Product Removed"):
        props = {"price": draw(_CENTS), "quantity": draw(st.integers(1, 3))}
    elif kind == "Order Completed":
        props = {"revenue": draw(_CENTS)}
    elif kind in ("Subscribed", "Unsubscribed"):
        props = {"channel": draw(st.sampled_from(["email", "sms"]))}
    elif kind == "Inbound Message Received":
        props = {"channel": "sms", "text": draw(st.sampled_from(["STOP", "hello"]))}
    return {**msg, "type": "track", "event": kind, "properties": props}


@st.composite
def _history(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 14))
    return [draw(_message(i)) for i in range(count)]


def _fold(messages: list[dict[str, Any]]) -> dict[str, Any]:
    state = ProfileState("c")
    for i, msg in enumerate(messages):
        row = event_row(MESSAGE_ADAPTER.validate_python(msg), _T)
        apply_to_profile(state, Event(id=i + 1, **row))
    values = state.values()
    values.pop("updated_at")  # the wall-clock time of the write, not part of the fold
    return values


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.data())
def test_any_order_of_a_customers_events_gives_the_same_profile(data: st.DataObject) -> None:
    history = data.draw(_history())
    reordered = data.draw(st.permutations(history))
    assert _fold(reordered) == _fold(history)


def _stored(engine: Engine, user: str) -> tuple[Any, ...]:
    with Session(engine) as session:
        view = get_profile_view(session, user)
        assert view is not None
        row = session.exec(select(Profile).where(Profile.customer_id == view.customer_id)).one()
        # Bookkeeping keys name message ids, which differ between the two histories.
        return row.traits, public_traits(row.computed), row.consent, row.timezone, row.locale


def test_a_removal_processed_before_its_addition_leaves_an_empty_cart(engine: Engine) -> None:
    ingest(engine, track("Product Removed", "r1", 5, price=10.0, quantity=1))
    drain(engine, rules=NO_RULES)
    ingest(engine, track("Product Added", "r1", 1, price=10.0, quantity=1))
    drain(engine, rules=NO_RULES)
    with Session(engine) as session:
        view = get_profile_view(session, "r1", as_of=T0 + timedelta(minutes=10))
    assert view is not None and view.computed["open_cart"] is None


def test_an_older_identify_processed_last_does_not_overwrite_newer_traits(
    engine: Engine,
) -> None:
    ingest(engine, identify("r2", 10, plan="pro", timezone="Asia/Tokyo"))
    drain(engine, rules=NO_RULES)
    ingest(engine, identify("r2", 1, plan="free", timezone="Europe/Paris", firstName="Ann"))
    drain(engine, rules=NO_RULES)
    with Session(engine) as session:
        view = get_profile_view(session, "r2")
    assert view is not None
    assert view.traits["plan"] == "pro" and view.traits["first_name"] == "Ann"
    assert view.timezone == "Asia/Tokyo"


def test_processing_one_event_per_batch_in_reverse_gives_the_stored_profile_of_forward(
    engine: Engine,
) -> None:
    def history(user: str) -> list[dict[str, Any]]:
        return [
            identify(user, 0, plan="free", email_opt_in=True),
            track("Product Added", user, 1, price=5.0, quantity=2),
            track("Order Completed", user, 2, revenue=10.0),
            track("Product Added", user, 3, price=7.0),
            track("Product Removed", user, 4, price=7.0),
            identify(user, 5, plan="pro", email_opt_in=False),
            track("Product Added", user, 6, price=3.0),
        ]

    for msg in history("fwd"):
        ingest(engine, msg)
        drain(engine, rules=NO_RULES)
    for msg in reversed(history("rev")):
        ingest(engine, msg)
        drain(engine, rules=NO_RULES)
    forward, backward = _stored(engine, "fwd"), _stored(engine, "rev")
    assert backward == forward
    assert forward[1]["open_cart"]["items"] == 1 and forward[0]["plan"] == "pro"
