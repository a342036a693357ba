"""The OpenAI-compatible path over real HTTP: a tiny chat-completions server on 127.0.0.1.

The same code (`LlmClient.from_settings`, `get_chat_model`, `write_creative`) runs as with a
hosted endpoint; the server answers what the test queues and records what it was asked.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from brand.creative import write_creative
from brand.store import BrandStore
from core.domain import ProfileView
from core.llm import LlmClient, get_chat_model
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


class FakeOpenAI:
    """Queued replies: a dict is message content (JSON), an int is an HTTP error status."""

    def __init__(self) -> None:
        self.replies: list[Any] = []
        self.requests: list[dict[str, Any]] = []
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self.completions)

    async def completions(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body)
        reply = self.replies.pop(0)
        if isinstance(reply, int):
            return JSONResponse({"error": {"message": "try later"}}, status_code=reply)
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if "tool_call" in reply:
            call = reply["tool_call"]
            message["tool_calls"] = [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
                }
            ]
        else:
            message["content"] = json.dumps(reply) if isinstance(reply, dict) else reply
        return JSONResponse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
            }
        )


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not uv.started:
        assert time.time() < deadline, "fake OpenAI server did not start"
        time.sleep(0.05)
    yield fake, f"http://127.0.0.1:{port}/v1"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def fake(server: tuple[FakeOpenAI, str]) -> FakeOpenAI:
    server[0].replies.clear()
    server[0].requests.clear()
    return server[0]


@pytest.fixture
def remote_settings(server: tuple[FakeOpenAI, str], tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        environment="test",
        llm_base_url=server[1],
        llm_model="local-test-model",
        llm_api_key="sk-test",
    )


def test_structured_output_over_http_with_json_schema(
    fake: FakeOpenAI, remote_settings: Settings
) -> None:
    from brand.drafts import SmsDraft

    fake.replies += [503, {"text": "Kestrel: your basket is waiting."}]
    client = LlmClient.from_settings(remote_settings)
    client.backoff_s = 0.0
    draft = client.structured("write an sms", SmsDraft)
    assert draft.text == "Kestrel: your basket is waiting."
    assert len(fake.requests) == 2  # the 503 was retried
    sent = fake.requests[-1]
    assert sent["model"] == "local-test-model"
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["text"]
    assert client.usage.snapshot()["prompt_tokens"] == 50


def test_creative_agent_runs_the_same_path_over_http(
    fake: FakeOpenAI, remote_settings: Settings
) -> None:
    store = BrandStore.open(remote_settings)
    store.ingest(ROOT / "examples" / "brand")
    fake.replies.append(
        {
            "title": "Your basket is still here",
            "body": "You left a Beacon 400 Front Light in your basket.",
        }
    )
    creative = write_creative(
        store=store,
        llm=LlmClient.from_settings(remote_settings),
        profile=ProfileView(customer_id="c-9", computed={"lifecycle_stage": "new"}),
        action_id="cart_abandoned",
        channel="push",
        offer={},
    )
    assert creative.source == "llm" and creative.model == "local-test-model"
    assert creative.content["url"] == "https://kestrel.example/basket"
    system = fake.requests[-1]["messages"][0]["content"]
    assert "Kestrel Cycle Co." in system and "act now" in system


def test_chat_model_from_settings_calls_tools_over_http(
    fake: FakeOpenAI, remote_settings: Settings
) -> None:
    from langchain_core.tools import tool

    @tool
    def pause_channel(channel: str) -> str:
        """Pause all sends on one channel."""
        return channel

    fake.replies += [{"tool_call": {"name": "pause_channel", "args": {"channel": "sms"}}}, "Done."]
    model = get_chat_model(remote_settings)
    reply = model.bind_tools([pause_channel]).invoke("pause sms please")
    assert reply.tool_calls[0]["name"] == "pause_channel"
    assert reply.tool_calls[0]["args"] == {"channel": "sms"}
    assert fake.requests[-1]["tools"][0]["function"]["name"] == "pause_channel"
    assert model.invoke("thanks").content == "Done."
