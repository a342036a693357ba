"""Ad audiences: hashed customer-match export, removals, and opt-outs respected."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.db import session_scope
from core.tables import Profile
from tests.tools.factories import add_message, make_registry
from tools.channels.audiences import export_audience, export_csv
from tools.dispatcher import Dispatcher


def _profile(engine: Engine, customer_id: str, consent: dict[str, object] | None = None) -> None:
    with session_scope(engine) as session:
        session.add(Profile(customer_id=customer_id, consent=consent or {}))


def test_add_remove_and_opt_out(engine: Engine, tmp_path: Path) -> None:
    _profile(engine, "c1")
    _profile(engine, "c2", {"ads": {"status": "unsubscribed"}})
    _profile(engine, "c3")
    add = {"audience": "lapsed", "op": "add"}
    add_message(engine, "audience", {**add, "email": " Ann@Example.COM "}, "1", customer_id="c1")
    add_message(engine, "audience", {**add, "email": "bo@example.com"}, "2", customer_id="c2")
    add_message(engine, "audience", {**add, "phone": "(415) 555-2671"}, "3", customer_id="c3")
    dispatcher = Dispatcher(engine, make_registry(engine, tmp_path))
    stats = dispatcher.run_until_idle()
    assert (stats.sent, stats.dead) == (2, 1)  # c2 opted out: dead-lettered, never added

    with Session(engine) as session:
        members = export_audience(session, "lapsed")
        assert [m["customer_id"] for m in members] == ["c1", "c3"]
        assert members[0]["email_sha256"] == hashlib.sha256(b"ann@example.com").hexdigest()
        assert members[1]["phone_sha256"] == hashlib.sha256(b"+14155552671").hexdigest()
        assert export_csv(session, "lapsed").splitlines()[0] == "Email,Phone"

    add_message(engine, "audience", {"audience": "lapsed", "op": "remove"}, "4", customer_id="c1")
    with session_scope(engine) as session:  # c3 opts out after being added
        profile = session.get(Profile, "c3")
        assert profile is not None
        profile.consent = {"audience": {"status": "unsubscribed"}}
        session.add(profile)
    dispatcher.run_until_idle()
    with Session(engine) as session:
        assert export_audience(session, "lapsed") == []


def test_a_global_unsubscribe_leaves_every_audience_export(engine: Engine, tmp_path: Path) -> None:
    _profile(engine, "c1")
    add = {"audience": "lapsed", "op": "add", "email": "ann@example.com"}
    add_message(engine, "audience", add, "1", customer_id="c1")
    Dispatcher(engine, make_registry(engine, tmp_path)).run_until_idle()
    with Session(engine) as session:
        assert [m["customer_id"] for m in export_audience(session, "lapsed")] == ["c1"]
    with session_scope(engine) as session:
        profile = session.get(Profile, "c1")
        assert profile is not None
        profile.consent = {"all": {"status": "unsubscribed", "basis": "express"}}
        session.add(profile)
    with Session(engine) as session:
        assert export_audience(session, "lapsed") == []
