"""Consent per channel: express choices beat implied purchase consent; opt-outs are audited."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cdp.consent import apply_opt_out
from cdp.pipeline import drain
from cdp.profiles import get_profile_view
from cdp.triggers import TriggerSet
from core.db import session_scope
from core.tables import AuditEntry
from tests.cdp.factories import identify, ingest, order, track

NO_RULES = TriggerSet()


def test_identify_opt_ins_and_unsubscribe_event(sqlite_engine: Engine) -> None:
    ingest(
        sqlite_engine,
        identify("k1", 0, email="k@example.com", email_opt_in=True, sms_opt_in=False),
        order("k1", 5),
        track("Unsubscribed", "k1", 10, channel="email"),
    )
    drain(sqlite_engine, rules=NO_RULES)
    with Session(sqlite_engine) as session:
        view = get_profile_view(session, "k1")
    assert view is not None
    assert view.consent["email"]["status"] == "unsubscribed"
    assert view.consent["sms"] == {
        "status": "unsubscribed",
        "basis": "express",
        "since": view.consent["sms"]["since"],
    }
    assert view.consent["push"]["status"] == "unknown"


def test_purchase_gives_implied_consent_dated_by_the_purchase(sqlite_engine: Engine) -> None:
    ingest(sqlite_engine, order("k2", 0), order("k2", 60))
    drain(sqlite_engine, rules=NO_RULES)
    with Session(sqlite_engine) as session:
        view = get_profile_view(session, "k2")
    assert view is not None
    assert view.consent["email"]["status"] == "implied"
    assert view.consent["email"]["since"].startswith("2026-03-01T13:00")


def test_unsubscribed_trait_turns_every_channel_off(sqlite_engine: Engine) -> None:
    ingest(
        sqlite_engine, identify("k3", 0, email_opt_in=True), identify("k3", 1, unsubscribed=True)
    )
    drain(sqlite_engine, rules=NO_RULES)
    with Session(sqlite_engine) as session:
        view = get_profile_view(session, "k3")
    assert view is not None
    assert {c: v["status"] for c, v in view.consent.items()} == {
        "email": "unsubscribed",
        "sms": "unsubscribed",
        "push": "unsubscribed",
    }


def test_apply_opt_out_is_audited(engine: Engine) -> None:
    ingest(engine, identify("k4", 0, phone="+12025550111", sms_opt_in=True))
    drain(engine, rules=NO_RULES)
    with session_scope(engine) as session:
        apply_opt_out(session, "+12025550111", "sms", "inbound STOP")
    with Session(engine) as session:
        view = get_profile_view(session, "k4")
        entries = session.exec(select(AuditEntry).where(AuditEntry.kind == "consent.opt_out")).all()
    assert view is not None and view.consent["sms"]["status"] == "unsubscribed"
    assert len(entries) == 1 and entries[0].payload == {"channel": "sms", "reason": "inbound STOP"}


def test_inbound_stop_reply_unsubscribes_that_channel_only(sqlite_engine: Engine) -> None:
    ingest(
        sqlite_engine,
        identify("k9", 0, email="k9@example.com", email_opt_in=True, sms_opt_in=True),
        track("Inbound Message Received", "k9", 5, channel="sms", text="Arrêt"),
        track("Inbound Message Received", "k9", 6, channel="email", text="what time do you open?"),
    )
    drain(sqlite_engine, rules=NO_RULES)
    with Session(sqlite_engine) as session:
        view = get_profile_view(session, "k9")
    assert view is not None
    assert view.consent["sms"]["status"] == "unsubscribed"
    assert view.consent["email"]["status"] == "subscribed"
