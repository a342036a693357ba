"""The real-provider HTTP adapters: request shapes, keys passed on, errors sorted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from tools.channels.base import Delivery, PermanentSendError, TransientSendError
from tools.channels.push import FcmPush
from tools.channels.sms import TwilioStyleSms


class Recorder:
    """An HTTP endpoint that records requests and answers with a queued status."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.replies: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                recorder.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, headers, reply = (
                    recorder.replies.pop(0)
                    if recorder.replies
                    else (200, {}, {"sid": "SM1", "name": "projects/p/messages/1"})
                )
                data = json.dumps(reply).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    threading.Thread(target=rec.server.serve_forever, daemon=True).start()
    yield rec
    rec.server.shutdown()


def _delivery(channel: str, payload: dict[str, Any]) -> Delivery:
    return Delivery(message_id="m", key="k" * 64, channel=channel, payload=payload)


def test_sms_is_a_twilio_style_form_post_with_the_idempotency_key(recorder: Recorder) -> None:
    sms = TwilioStyleSms(
        recorder.url, account_sid="AC1", auth_token="t", from_number="+15005550006"
    )
    result = sms.send(_delivery("sms", {"to": "(415) 555-0100", "text": "hi"}))
    (request,) = recorder.requests
    assert request["path"] == "/2010-04-01/Accounts/AC1/Messages.json"
    assert request["headers"]["Idempotency-Key"] == "k" * 64
    assert request["headers"]["Authorization"].startswith("Basic ")
    form = {k: v[0] for k, v in parse_qs(request["body"].decode()).items()}
    assert form == {"To": "+14155550100", "From": "+15005550006", "Body": "hi"}
    assert result.provider_message_id == "SM1"


def test_429_is_transient_with_retry_after_and_400_is_permanent(recorder: Recorder) -> None:
    sms = TwilioStyleSms(recorder.url, account_sid="AC1", auth_token="t", from_number="+1500")
    recorder.replies = [(429, {"Retry-After": "7"}, {}), (400, {}, {"message": "bad To"})]
    with pytest.raises(TransientSendError) as transient:
        sms.send(_delivery("sms", {"to": "+14155550100", "text": "hi"}))
    assert transient.value.retry_after == 7.0
    with pytest.raises(PermanentSendError, match="HTTP 400"):
        sms.send(_delivery("sms", {"to": "+14155550100", "text": "hi"}))


def test_push_is_an_fcm_v1_message(recorder: Recorder) -> None:
    push = FcmPush(recorder.url, project="demo", access_token="ya29.token")
    push.send(
        _delivery(
            "push", {"token": "dev-1", "title": "Hi", "body": "Back", "url": "https://x.test"}
        )
    )
    (request,) = recorder.requests
    assert request["path"] == "/v1/projects/demo/messages:send"
    assert request["headers"]["Authorization"] == "Bearer ya29.token"
    message = json.loads(request["body"])["message"]
    assert message["token"] == "dev-1"
    assert message["notification"] == {"title": "Hi", "body": "Back"}
    assert message["data"]["idempotency_key"] == "k" * 64
