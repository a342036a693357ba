"""Oversized bodies get 413 without being read into memory, chunked uploads included."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from api.app import create_app
from core.keys import Role
from core.settings import Settings

LIMIT = 4096
CHUNK = 1024


def _app(settings: Settings, engine: Engine) -> FastAPI:
    limited = settings.model_copy(update={"max_body_bytes": LIMIT})
    return create_app(limited, engine=engine, run_migrations=False)


def _call(app: FastAPI, chunks: Any, headers: list[tuple[bytes, bytes]]) -> tuple[int, Any, int]:
    """POST /v1/track with a chunked body (no Content-Length); returns status, body, chunks read."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/track",
        "raw_path": b"/v1/track",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), read


def test_huge_chunked_body_is_refused_once_past_the_limit(
    settings: Settings, sqlite_engine: Engine
) -> None:
    huge = iter([b"x" * CHUNK] * 1000)  # 1 MB, 250 times the limit
    status, body, read = _call(_app(settings, sqlite_engine), huge, [])
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert read == LIMIT // CHUNK + 1  # it stopped reading right after passing the limit


def test_chunked_body_under_the_limit_reaches_the_handler_whole(
    settings: Settings, sqlite_engine: Engine, role_keys: dict[Role, str]
) -> None:
    payload = json.dumps({"userId": "u1", "event": "Product Added", "messageId": "c1"}).encode()
    chunks = iter([payload[:10], payload[10:25], payload[25:]])
    bearer = (b"authorization", f"Bearer {role_keys[Role.service]}".encode())
    status, body, read = _call(_app(settings, sqlite_engine), chunks, [bearer])
    assert (status, body, read) == (202, {"success": True, "duplicate": False}, 3)
