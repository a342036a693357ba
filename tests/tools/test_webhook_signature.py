"""Standard Webhooks signing: a receiver holding the secret accepts ours and rejects tampering."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tools.channels.base import Delivery
from tools.channels.webhook import WebhookSender, sign, verify

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def test_signature_is_hmac_sha256_of_id_timestamp_body() -> None:
    body = b'{"type":"x"}'
    expected = hmac.new(
        b"0123456789abcdef0123456789abcdef", b"msg_1.1700000000." + body, hashlib.sha256
    ).digest()
    assert sign(SECRET, "msg_1", 1700000000, body) == "v1," + base64.b64encode(expected).decode()


def test_verify_rejects_tampered_body_wrong_secret_and_stale_timestamp() -> None:
    body = b'{"a":1}'
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": sign(SECRET, "msg_1", 1700000000, body),
    }
    assert verify(SECRET, headers, body, now=1700000010)
    assert not verify(SECRET, headers, b'{"a":2}', now=1700000010)
    assert not verify("whsec_" + base64.b64encode(b"other").decode(), headers, body, now=1.7e9)
    assert not verify(SECRET, headers, body, now=1700000000 + 3600)


def test_sender_posts_a_signed_event_the_receiver_verifies() -> None:
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append({"headers": dict(self.headers), "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hooks"
        delivery = Delivery(
            message_id="m1",
            key="k" * 64,
            channel="webhook",
            payload={"url": url, "event": "customer.winback", "data": {"customer_id": "c1"}},
        )
        result = WebhookSender(SECRET).send(delivery)
    finally:
        server.shutdown()
    assert result.provider_message_id == "k" * 64
    (request,) = received
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["webhook-id"] == "k" * 64
    assert verify(SECRET, headers, request["body"])
    assert json.loads(request["body"])["data"] == {"customer_id": "c1"}
