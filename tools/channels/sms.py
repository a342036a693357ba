"""SMS through a Twilio-style REST API: a form POST to /Accounts/{sid}/Messages.json.

The outbox key travels as the `Idempotency-Key` header; a provider that honours it (and the
sandbox, and the failure-injection provider in the tests) turns a replay into a no-op.
Payload: {"to": E.164 number, "text": str}.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx
import phonenumbers

from tools.channels.base import Delivery, PermanentSendError, SendResult, require_text
from tools.channels.http_provider import post
from tools.channels.sandbox import SandboxProvider

__all__ = ["SandboxSms", "SmsRequest", "TwilioStyleSms", "build_sms_request", "e164"]


@dataclass(frozen=True)
class SmsRequest:
    """The provider request: path under the API base, form fields and headers (no secrets)."""

    path: str
    form: dict[str, str]
    headers: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "form": self.form, "headers": self.headers}


def e164(number: str, region: str = "US") -> str:
    """The number in E.164 form, or a permanent error naming `payload.to`."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise PermanentSendError(f"payload.to: {number!r} is not a phone number") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise PermanentSendError(f"payload.to: {number!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def build_sms_request(delivery: Delivery, *, account_sid: str, from_number: str) -> SmsRequest:
    """Validate the payload and shape the Twilio-style request for it."""
    to = e164(require_text(delivery.payload, "to", "sms"))
    text = require_text(delivery.payload, "text", "sms")
    if len(text) > 1600:
        raise PermanentSendError("payload.text: longer than 1600 characters (10 segments)")
    return SmsRequest(
        path=f"/2010-04-01/Accounts/{account_sid}/Messages.json",
        form={"To": to, "From": from_number, "Body": text},
        headers={"Idempotency-Key": delivery.key},
    )


class TwilioStyleSms:
    """Posts to a Twilio-compatible API at `base_url` with HTTP basic auth (sid:token)."""

    name = "sms"

    def __init__(
        self,
        base_url: str,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.account_sid = account_sid
        self.from_number = from_number
        auth = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._auth = f"Basic {auth}"
        self.client = client or httpx.Client(timeout=timeout)

    def send(self, delivery: Delivery) -> SendResult:
        request = build_sms_request(
            delivery, account_sid=self.account_sid, from_number=self.from_number
        )
        response = post(
            self.client,
            self.base_url + request.path,
            headers={**request.headers, "Authorization": self._auth},
            data=request.form,
        )
        body = response.json() if response.content else {}
        return SendResult(str(body.get("sid") or ""), {"status": body.get("status")})


class SandboxSms:
    """The default: stores the Twilio-style request instead of sending it."""

    name = "sms"

    def __init__(self, sandbox: SandboxProvider, *, from_number: str = "+15005550006") -> None:
        self.sandbox = sandbox
        self.from_number = from_number

    def send(self, delivery: Delivery) -> SendResult:
        request = build_sms_request(delivery, account_sid="sandbox", from_number=self.from_number)
        record_id, created = self.sandbox.accept(
            key=delivery.key,
            channel="sms",
            recipient=request.form["To"],
            request=request.as_dict(),
            customer_id=delivery.customer_id,
        )
        return SendResult(record_id, {"replayed": not created})
