"""LlmClient: validated structured output, retries, cache, accounting and audit entries."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import select

from core.db import session_scope
from core.llm import LlmClient, LlmOutputError, LlmUnavailableError, _Transient
from core.tables import AuditEntry
from tests.brand.conftest import scripted_client


class Greeting(BaseModel):
    text: str


def test_valid_json_is_returned_as_the_schema() -> None:
    client, _ = scripted_client({"text": "hello"})
    assert client.structured("say hello", Greeting) == Greeting(text="hello")


def test_transient_errors_are_retried_then_succeed() -> None:
    client, backend = scripted_client(_Transient("503"), _Transient("timeout"), {"text": "ok"})
    assert client.structured("hi", Greeting).text == "ok"
    assert len(backend.requests) == 3
    assert client.usage.history[-1].attempts == 3


def test_backend_down_on_every_attempt_raises_unavailable() -> None:
    client, _ = scripted_client(*[_Transient("connection refused")] * 3)
    with pytest.raises(LlmUnavailableError):
        client.structured("hi", Greeting)
    assert client.usage.failures == 1 and client.usage.calls == 0


def test_output_not_matching_schema_raises_after_retries() -> None:
    client, _ = scripted_client("not json", {"wrong": 1}, '{"text": ')
    with pytest.raises(LlmOutputError, match="Greeting"):
        client.structured("hi", Greeting)


def test_invalid_output_then_valid_output_recovers() -> None:
    client, _ = scripted_client('{"txt": "x"}', {"text": "fixed"})
    assert client.structured("hi", Greeting).text == "fixed"


def test_identical_request_is_served_from_cache() -> None:
    client, backend = scripted_client({"text": "once"})
    first = client.structured("same prompt", Greeting)
    second = client.structured("same prompt", Greeting)
    assert first == second
    assert len(backend.requests) == 1
    assert client.usage.calls == 1 and client.usage.cache_hits == 1


def test_tokens_and_cost_are_counted_per_call() -> None:
    client, _ = scripted_client({"text": "a"}, {"text": "b"})
    client.price_in, client.price_out = 1.0, 2.0  # USD per million tokens
    client.structured("one", Greeting)
    client.structured("two", Greeting)
    snap = client.usage.snapshot()
    assert snap["llm_calls"] == 2
    assert snap["prompt_tokens"] == 200 and snap["completion_tokens"] == 40
    assert snap["llm_cost_usd"] == pytest.approx((200 * 1 + 40 * 2) / 1e6)


def test_call_is_audited_with_model_and_hashes(sqlite_engine: Engine) -> None:
    client, _ = scripted_client({"text": "audited"})
    with session_scope(sqlite_engine) as session:
        client.structured("prompt", Greeting, session=session, purpose="test")
    with session_scope(sqlite_engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.kind == "llm.call")).one()
    assert entry.payload["model"] == "scripted-model"
    assert len(entry.payload["prompt_hash"]) == 64 and len(entry.payload["output_hash"]) == 64
    assert entry.payload["purpose"] == "test"


def test_client_from_settings_picks_backend_by_base_url(tmp_path: Path) -> None:
    from core.settings import Settings

    embedded = LlmClient.from_settings(Settings(data_dir=tmp_path, environment="test"))
    assert embedded.backend.name == "embedded"
    remote = LlmClient.from_settings(
        Settings(
            data_dir=tmp_path,
            environment="test",
            llm_base_url="http://127.0.0.1:9/v1",
            llm_model="m",
        )
    )
    assert remote.backend.name == "openai-compatible" and remote.model_name == "m"


def test_with_an_audit_engine_the_call_is_recorded_outside_the_callers_transaction(
    sqlite_engine: Engine,
) -> None:
    # The journey runner's client: no transaction of the caller stays open around a model call.
    client, _ = scripted_client({"text": "own transaction"})
    client.audit_engine = sqlite_engine
    with pytest.raises(RuntimeError), session_scope(sqlite_engine) as session:
        client.structured("prompt", Greeting, session=session, purpose="test")
        raise RuntimeError("the caller's work fails afterwards")
    with session_scope(sqlite_engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.kind == "llm.call")).one()
    assert entry.payload["purpose"] == "test"
