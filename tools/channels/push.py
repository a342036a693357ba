"""Push notifications in the FCM HTTP v1 shape: POST /v1/projects/{project}/messages:send.

Payload: {"token" or "customer_id", "title", "body", "url"?}. FCM itself has no idempotency
key, so the key rides in `message.data.idempotency_key` (apps drop repeats on the device) and
as an `Idempotency-Key` header for gateways that honour it; the sandbox dedupes by it.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.tables import Profile
from tools.channels.base import Delivery, PermanentSendError, SendResult, require_text
from tools.channels.http_provider import post
from tools.channels.sandbox import SandboxProvider

__all__ = ["FcmPush", "SandboxPush", "build_fcm_message"]


def build_fcm_message(delivery: Delivery, token: str) -> dict[str, Any]:
    """The FCM v1 request body for one device token."""
    title = require_text(delivery.payload, "title", "push")
    body = require_text(delivery.payload, "body", "push")
    message: dict[str, Any] = {
        "token": token,
        "notification": {"title": title, "body": body},
        "data": {"idempotency_key": delivery.key},
    }
    url = delivery.payload.get("url")
    if url:
        message["data"]["url"] = str(url)
        message["webpush"] = {"fcm_options": {"link": str(url)}}
    return {"message": message}


def _device_token(engine: Engine | None, delivery: Delivery) -> str | None:
    token = delivery.payload.get("token")
    if isinstance(token, str) and token:
        return token
    customer_id = delivery.payload.get("customer_id") or delivery.customer_id
    if engine is None or not customer_id:
        return None
    with Session(engine) as session:
        profile = session.get(Profile, customer_id)
    value = profile.traits.get("push_token") if profile else None
    return value if isinstance(value, str) and value else None


class FcmPush:
    """Sends through FCM HTTP v1 (or a compatible gateway) with an OAuth bearer token."""

    name = "push"

    def __init__(
        self,
        base_url: str,
        *,
        project: str,
        access_token: str,
        engine: Engine | None = None,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/v1/projects/{project}/messages:send"
        self.access_token = access_token
        self.engine = engine
        self.client = client or httpx.Client(timeout=timeout)

    def send(self, delivery: Delivery) -> SendResult:
        token = _device_token(self.engine, delivery)
        if token is None:
            raise PermanentSendError("payload.token: no device token (none in the profile)")
        response = post(
            self.client,
            self.url,
            headers={
                "Authorization": f"Bearer {self.access_token}",
                "Idempotency-Key": delivery.key,
            },
            json=build_fcm_message(delivery, token),
        )
        return SendResult(str(response.json().get("name") or ""))


class SandboxPush:
    """The default: stores the FCM request; a customer without a token is addressed by id."""

    name = "push"

    def __init__(self, sandbox: SandboxProvider, engine: Engine | None = None) -> None:
        self.sandbox = sandbox
        self.engine = engine

    def send(self, delivery: Delivery) -> SendResult:
        token = _device_token(self.engine, delivery)
        customer_id = delivery.payload.get("customer_id") or delivery.customer_id
        if token is None and not customer_id:
            raise PermanentSendError("payload.token: give a device token or a customer_id")
        recipient = token or f"customer:{customer_id}"
        body = build_fcm_message(delivery, recipient)
        record_id, created = self.sandbox.accept(
            key=delivery.key,
            channel="push",
            recipient=recipient,
            request={"path": "/v1/projects/sandbox/messages:send", "json": body},
            customer_id=delivery.customer_id,
        )
        return SendResult(record_id, {"replayed": not created})
