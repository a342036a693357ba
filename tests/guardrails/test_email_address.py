"""The sender's physical address: the check requires it will be shown, the build puts it there."""

from __future__ import annotations

import re

import pytest

from agents.journey.wiring import channel_payload
from core.domain import Outcome
from guardrails.email import email_compliance_check
from guardrails.policy import default_policy
from tests.guardrails.factories import email_content
from tools.channels.base import Delivery, PermanentSendError
from tools.channels.email import EmailDefaults, build_email

POLICY = default_policy()
ADDRESS = POLICY.email.physical_address
NO_ADDRESS = POLICY.model_copy(
    update={"email": POLICY.email.model_copy(update={"physical_address": ""})}
)


def _built(payload: dict[str, object], defaults: EmailDefaults | None = None) -> tuple[str, str]:
    delivery = Delivery(
        message_id="m1", key="k1", channel="email", payload=payload, customer_id="c1"
    )
    msg = build_email(delivery, defaults or EmailDefaults())
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def _journey_payload(content: dict[str, object]) -> dict[str, object]:
    """What the journey enqueues for an email (agents.journey.wiring)."""
    return channel_payload("email", "ada@example.org", content, {}, "c1", physical_address=ADDRESS)


def test_built_email_shows_the_real_address_and_no_placeholder() -> None:
    footer = "<p>{{physical_address}} - <a href='{{unsubscribe_url}}'>unsub</a></p>"
    content = email_content(body_html="<p>Hi Ada</p>" + footer)
    assert email_compliance_check(content, POLICY, stage="plan").outcome == Outcome.allow
    text, html = _built(_journey_payload(content))
    assert ADDRESS in text and ADDRESS in html
    assert not re.search(r"\{\{.*?\}\}", text + html)


def test_address_is_html_escaped_in_the_html_part() -> None:
    payload = _journey_payload(email_content(body_html="<p>{{physical_address}}</p>"))
    payload["physical_address"] = "Fish & Chips Ltd, 1 Quay <Row>"
    text, html = _built(payload)
    assert "Fish & Chips Ltd, 1 Quay <Row>" in text
    assert "Fish &amp; Chips Ltd, 1 Quay &lt;Row&gt;" in html


def test_adapter_default_address_fills_a_payload_without_one() -> None:
    payload = _journey_payload(email_content(body_html="<p>{{physical_address}}</p>"))
    del payload["physical_address"]
    text, _ = _built(payload, EmailDefaults(physical_address="1 Default Road, Leeds"))
    assert "1 Default Road, Leeds" in text


def test_placeholder_with_no_address_configured_is_refused_at_build_and_check() -> None:
    content = email_content()
    payload = channel_payload("email", "ada@example.org", content, {}, "c1")
    with pytest.raises(PermanentSendError, match=r"payload\.physical_address"):
        _built(payload)
    verdict = email_compliance_check(content, NO_ADDRESS, stage="plan")
    assert "missing_physical_address:none_configured" in verdict.reasons


def test_html_part_without_the_address_is_blocked() -> None:
    content = email_content(body_html="<p>Hi Ada, <a href='{{unsubscribe_url}}'>unsub</a></p>")
    verdict = email_compliance_check(content, POLICY, stage="plan")
    assert verdict.reasons == ["missing_physical_address:body_html"]
    literal = email_content(body_html=f"<p>{ADDRESS} <a href='{{{{unsubscribe_url}}}}'>u</a></p>")
    assert email_compliance_check(literal, POLICY, stage="plan").outcome == Outcome.allow


def test_placeholder_nothing_fills_is_blocked_and_never_built() -> None:
    content = email_content(subject="Hi {{first_name}}, your cart")
    verdict = email_compliance_check(content, POLICY, stage="plan")
    assert verdict.reasons == ["unfilled_placeholder:{{first_name}}"]
    with pytest.raises(
        PermanentSendError, match=r"payload.subject: placeholder \{\{first_name\}\}"
    ):
        _built(_journey_payload(content))
