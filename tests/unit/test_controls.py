"""Kill-switch state: all / channel / journey scopes, resume, audit entries."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core import controls
from core.db import session_scope
from core.tables import AuditEntry


def test_channel_pause_only_stops_that_channel(engine: Engine) -> None:
    with session_scope(engine) as s:
        controls.set_paused(s, scope="channel", target="sms", paused=True, actor="key:m")
    with Session(engine) as s:
        assert controls.is_paused(s, channel="sms")
        assert not controls.is_paused(s, channel="email", journey_slug="winback")


def test_pause_all_then_resume(engine: Engine) -> None:
    with session_scope(engine) as s:
        controls.set_paused(s, scope="all", paused=True, actor="key:m", reason="incident")
    with Session(engine) as s:
        assert controls.is_paused(s, channel="email")
    with session_scope(engine) as s:
        controls.set_paused(s, scope="all", paused=False, actor="key:m")
    with Session(engine) as s:
        assert not controls.is_paused(s, channel="email")
        kinds = [e.kind for e in s.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all()]
    assert kinds == ["control.paused", "control.resumed"]


def test_journey_pause(engine: Engine) -> None:
    with session_scope(engine) as s:
        controls.set_paused(s, scope="journey", target="winback", paused=True, actor="key:m")
    with Session(engine) as s:
        assert controls.is_paused(s, channel="email", journey_slug="winback")
        assert not controls.is_paused(s, channel="email", journey_slug="cart")
