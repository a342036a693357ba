"""Brand fixtures: the demo kit ingested once per session, a scripted LLM backend, no network."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brand.store import BrandStore
from core.llm import Completion, LlmClient

ROOT = Path(__file__).resolve().parents[2]
DEMO_KIT = ROOT / "examples" / "brand"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests may talk to loopback only; anything else is a bug (nothing is fetched)."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in (
            "127.0.0.1",
            "::1",
            "localhost",
        ):
            raise OSError(f"network access blocked in unit tests: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> BrandStore:
    store = BrandStore(tmp_path_factory.mktemp("brand-store"))
    store.ingest(DEMO_KIT)
    return store


@pytest.fixture
def store(demo_store: BrandStore) -> Iterator[BrandStore]:
    """The session store with a fresh variant cache for each test."""
    from brand.variants import VariantCache

    demo_store.variants = VariantCache()
    yield demo_store


@pytest.fixture
def kit_copy(tmp_path: Path) -> Path:
    target = tmp_path / "kit"
    shutil.copytree(DEMO_KIT, target)
    return target


class ScriptedBackend:
    """An LLM backend whose replies are queued by the test (str, dict or an exception)."""

    name = "scripted"
    model = "scripted-model"

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.requests: list[list[dict[str, str]]] = []

    def complete(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        *,
        max_tokens: int,
        temperature: float,
    ) -> Completion:
        self.requests.append(messages)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        text = reply if isinstance(reply, str) else json.dumps(reply)
        return Completion(text, prompt_tokens=100, completion_tokens=20)


def scripted_client(*replies: Any) -> tuple[LlmClient, ScriptedBackend]:
    backend = ScriptedBackend(*replies)
    return LlmClient(backend, backoff_s=0.0), backend
