"""Signed webhooks following the Standard Webhooks scheme (standardwebhooks.com).

Headers: `webhook-id` (the outbox key: receivers dedupe on it), `webhook-timestamp` (unix
seconds of this attempt) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
keyed with the secret (`whsec_<base64>`; other strings are used as raw bytes).
Payload: {"url", "event", "data"}; the body is {"type": event, "timestamp": ..., "data": data}.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping

import httpx

from core.clock import as_utc
from tools.channels.base import Delivery, PermanentSendError, SendResult, require_text
from tools.channels.http_provider import post

__all__ = ["WebhookSender", "secret_bytes", "sign", "verify", "webhook_body"]

TOLERANCE_S = 300


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret (base64 after the prefix), else the raw string."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256(id.timestamp.body)>`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> bool:
    """What a receiver does: check the timestamp window and any `v1,` signature (constant time)."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(stamp)) > TOLERANCE_S:
        return False
    expected = sign(secret, msg_id, int(stamp), body).split(",", 1)[1]
    for candidate in lower.get("webhook-signature", "").split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


def webhook_body(delivery: Delivery, event: str, data: object) -> bytes:
    """The JSON body; its timestamp is the message's creation time, so retries are identical."""
    created = as_utc(delivery.created_at).isoformat() if delivery.created_at else None
    return json.dumps(
        {"type": event, "timestamp": created, "data": data},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    ).encode()


class WebhookSender:
    """POSTs signed events; `post_event` is also used by the CSM channel to reach a CRM."""

    name = "webhook"

    def __init__(
        self,
        secret: str,
        *,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.client = client or httpx.Client(timeout=timeout)
        self.clock = clock

    def post_event(self, url: str, msg_id: str, body: bytes) -> httpx.Response:
        if not url.startswith(("http://", "https://")):
            raise PermanentSendError(f"payload.url: {url!r} is not an http(s) URL")
        stamp = int(self.clock())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(self.secret, msg_id, stamp, body),
        }
        return post(self.client, url, headers=headers, content=body)

    def send(self, delivery: Delivery) -> SendResult:
        url = require_text(delivery.payload, "url", "webhook")
        event = require_text(delivery.payload, "event", "webhook")
        body = webhook_body(delivery, event, delivery.payload.get("data", {}))
        response = self.post_event(url, delivery.key, body)
        return SendResult(delivery.key, {"status": response.status_code})
