"""Email rendering: multipart text+HTML, one-click unsubscribe, Message-ID from the key."""

from __future__ import annotations

import re

import pytest

from tests.tools.factories import email_payload
from tools.channels.base import Delivery, PermanentSendError
from tools.channels.email import (
    EmailDefaults,
    build_email,
    message_id_for,
    read_unsubscribe_token,
)

DEFAULTS = EmailDefaults(public_url="http://127.0.0.1:8000", unsubscribe_secret="s3cret")


def _delivery(payload: dict[str, object]) -> Delivery:
    return Delivery(
        message_id="m", key="a" * 64, channel="email", payload=payload, customer_id="c1"
    )


def test_email_is_multipart_alternative_with_unsubscribe_headers() -> None:
    msg = build_email(_delivery(email_payload()), DEFAULTS)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Message-ID"] == message_id_for("a" * 64)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<http://127.0.0.1:8000/u/" in msg["List-Unsubscribe"]
    assert msg["From"] == DEFAULTS.from_address


def test_unsubscribe_placeholder_is_replaced_by_a_signed_link() -> None:
    msg = build_email(_delivery(email_payload()), DEFAULTS)
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "{{unsubscribe_url}}" not in text + html
    token = text.rsplit("/u/", 1)[1].strip()
    assert read_unsubscribe_token(token, "s3cret") == "c1"
    assert read_unsubscribe_token(token, "other-secret") is None
    assert "A little something inside" in html  # preheader, hidden


@pytest.mark.parametrize(
    ("change", "field"),
    [({"to": "not-an-address"}, "payload.to"), ({"subject": ""}, "payload.subject")],
)
def test_bad_payload_is_a_permanent_error_naming_the_field(
    change: dict[str, str], field: str
) -> None:
    with pytest.raises(PermanentSendError, match=field):
        build_email(_delivery(email_payload(**change)), DEFAULTS)


def test_message_ids_of_journey_keys_are_distinct_and_valid() -> None:
    # Journey keys contain a colon; a Message-ID cut at it made every journey email one message.
    first, second = message_id_for("journey:" + "a" * 64), message_id_for("journey:" + "b" * 64)
    assert first != second
    for message_id in (first, second):
        assert re.fullmatch(r"<[0-9a-f]{40}@cjo\.outbox>", message_id)


def test_free_form_headers_cannot_add_recipients_or_unsubscribe_targets() -> None:
    delivery = Delivery(
        message_id="m1",
        key="k" * 64,
        channel="email",
        customer_id="c1",
        payload={
            "to": "ann@example.com",
            "subject": "Hello",
            "text": "Hi",
            "headers": {"Bcc": "eve@example.com", "List-Unsubscribe": "<http://evil>", "X-A": "1"},
        },
    )
    msg = build_email(delivery, EmailDefaults())
    assert msg["Bcc"] is None and msg["X-A"] == "1"
    assert "evil" not in str(msg["List-Unsubscribe"])


def _html(payload: dict[str, object]) -> str:
    msg = build_email(_delivery(payload), DEFAULTS)
    return msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]


def test_preheader_goes_first_inside_a_styled_body_tag_escaped() -> None:
    html = _html(
        email_payload(
            preheader="Fish & chips <b>inside</b>",
            html="<!doctype html><html><body style='margin:0'><p>Hi Ann</p></body></html>",
        )
    )
    opening = "<body style='margin:0'><div style=\"display:none"
    assert opening in html
    assert html.index("Fish &amp; chips &lt;b&gt;inside&lt;/b&gt;") < html.index("Hi Ann")
    assert html.startswith("<!doctype html>") and "<b>inside" not in html


def test_a_preheader_the_template_already_placed_is_not_added_again() -> None:
    body = "<html><body><span style='display:none'>Back in stock</span><p>Hi</p></body></html>"
    html = _html(email_payload(preheader="Back in stock", html=body))
    assert html.count("Back in stock") == 1
