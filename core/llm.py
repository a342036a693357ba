"""The LLM layer: one factory for a chat model, and `LlmClient` for validated structured output.

Backends: with CJO_LLM_BASE_URL / CJO_LLM_MODEL / CJO_LLM_API_KEY set, any OpenAI-compatible
endpoint through the openai SDK; unset, the embedded SmolLM2 model in-process (core.llm_local).
`LlmClient.structured` asks for JSON matching a pydantic schema (grammar-constrained on llama.cpp,
`response_format=json_schema` on OpenAI-compatible servers), validates it, retries transient
errors with backoff, caches responses, counts tokens, latency and cost, and writes the model name
with hashes of prompt and output to the audit log.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from core.audit import append as audit_append
from core.audit import digest
from core.db import session_scope
from core.llm_local import EMBEDDED_MODEL_NAME, MODEL_LOCK, ChatLlamaCpp, load_llama
from core.settings import Settings

__all__ = [
    "LlmCall",
    "LlmClient",
    "LlmOutputError",
    "LlmUnavailableError",
    "LlmUsage",
    "Messages",
    "get_chat_model",
    "get_llm_client",
]

T = TypeVar("T", bound=BaseModel)
Messages = str | Sequence[dict[str, str]]


class LlmUnavailableError(RuntimeError):
    """The backend could not be reached (after retries); callers fall back to safe copy."""


class LlmOutputError(ValueError):
    """The model answered, but not with JSON matching the schema (after retries)."""


class _Transient(Exception):
    """A failure worth retrying: connection, timeout, rate limit, 5xx, invalid JSON."""


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


class Backend(Protocol):
    name: str
    model: str

    def complete(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        *,
        max_tokens: int,
        temperature: float,
    ) -> Completion: ...


def get_chat_model(settings: Settings) -> BaseChatModel:
    """A langchain chat model with `bind_tools`: OpenAI-compatible if configured, else embedded."""
    if settings.llm_base_url:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            base_url=settings.llm_base_url,
            model=settings.llm_model or "default",
            api_key=settings.llm_api_key or "not-needed",  # type: ignore[arg-type]
            timeout=60,
            max_retries=2,
        )
    return ChatLlamaCpp()


# -- backends -----------------------------------------------------------------------------
_GRAMMAR_MAX_LENGTH = 160


def _grammar_schema(schema: Any) -> Any:
    """The schema without long string-length bounds, which make llama.cpp grammars slow.

    Short bounds (an SMS, a title) stay: they keep a small model from rambling past them.
    Every bound is still enforced: pydantic validates the output against the full schema.
    """
    if isinstance(schema, dict):
        return {
            k: _grammar_schema(v)
            for k, v in schema.items()
            if k != "minLength" and not (k == "maxLength" and v > _GRAMMAR_MAX_LENGTH)
        }
    if isinstance(schema, list):
        return [_grammar_schema(v) for v in schema]
    return schema


class EmbeddedBackend:
    """SmolLM2 via llama.cpp; JSON output is enforced by a grammar built from the schema."""

    name = "embedded"
    model = EMBEDDED_MODEL_NAME

    def complete(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        *,
        max_tokens: int,
        temperature: float,
    ) -> Completion:
        with MODEL_LOCK:
            response = load_llama().create_chat_completion(
                messages=messages,
                response_format={"type": "json_object", "schema": _grammar_schema(schema)},
                max_tokens=max_tokens,
                temperature=temperature,
            )
        usage = response.get("usage") or {}
        return Completion(
            response["choices"][0]["message"].get("content") or "",
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
        )


class OpenAICompatibleBackend:
    """Any OpenAI-compatible chat-completions server through the openai SDK.

    Asks for `json_schema` output; a server that refuses it (400) is asked again with
    `json_object`, and from then on only with that.
    """

    name = "openai-compatible"

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout_s: float) -> None:
        import openai

        self.model = model
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=0
        )
        self._schema_mode = True

    def complete(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        *,
        max_tokens: int,
        temperature: float,
    ) -> Completion:
        openai = self._openai
        fmt: dict[str, Any] = (
            {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
            if self._schema_mode
            else {"type": "json_object"}
        )
        try:
            response = self._client.chat.completions.create(  # type: ignore[call-overload]
                model=self.model,
                messages=messages,
                response_format=fmt,
                max_tokens=max_tokens,
                temperature=temperature,
            )
        except openai.BadRequestError:
            if not self._schema_mode:
                raise
            self._schema_mode = False
            return self.complete(messages, schema, max_tokens=max_tokens, temperature=temperature)
        except (
            openai.APIConnectionError,
            openai.APITimeoutError,
            openai.RateLimitError,
            openai.InternalServerError,
        ) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        usage = response.usage
        return Completion(
            response.choices[0].message.content or "",
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
        )


# -- accounting and cache -----------------------------------------------------------------
@dataclass(frozen=True)
class LlmCall:
    """One structured call as the audit log and metrics see it."""

    purpose: str
    backend: str
    model: str
    prompt_hash: str
    output_hash: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    cost_usd: float
    cached: bool
    attempts: int


@dataclass
class LlmUsage:
    """Running totals of one client; `snapshot()` is what metrics read."""

    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    history: list[LlmCall] = field(default_factory=list)

    def record(self, call: LlmCall) -> None:
        if call.cached:
            self.cache_hits += 1
        else:
            self.calls += 1
            self.prompt_tokens += call.prompt_tokens
            self.completion_tokens += call.completion_tokens
            self.latency_ms += call.latency_ms
            self.cost_usd += call.cost_usd
        self.history.append(call)
        del self.history[:-1000]  # keep memory bounded in long-running processes

    def snapshot(self) -> dict[str, float]:
        return {
            "llm_calls": self.calls,
            "llm_cache_hits": self.cache_hits,
            "llm_failures": self.failures,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "llm_latency_ms_total": round(self.latency_ms, 1),
            "llm_cost_usd": round(self.cost_usd, 6),
        }


class ResponseCache:
    """Responses by request hash: in memory, and as JSON files when given a folder."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._memory: dict[str, str] = {}
        if folder:
            folder.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> str | None:
        if key in self._memory:
            return self._memory[key]
        if self.folder and (path := self.folder / f"{key}.json").is_file():
            self._memory[key] = path.read_text(encoding="utf-8")
            return self._memory[key]
        return None

    def put(self, key: str, text: str) -> None:
        self._memory[key] = text
        if self.folder:
            tmp = self.folder / f"{key}.tmp"
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(self.folder / f"{key}.json")


# -- the client ---------------------------------------------------------------------------
class LlmClient:
    """Structured calls with validation, retries, cache, accounting and audit."""

    def __init__(
        self,
        backend: Backend,
        *,
        cache: ResponseCache | None = None,
        price_in_per_mtok: float = 0.0,
        price_out_per_mtok: float = 0.0,
        max_attempts: int = 3,
        backoff_s: float = 0.2,
    ) -> None:
        self.backend = backend
        self.cache = cache if cache is not None else ResponseCache()
        self.price_in = price_in_per_mtok
        self.price_out = price_out_per_mtok
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.usage = LlmUsage()
        self._lock = threading.Lock()
        # When set, each call's audit entry commits in its own short transaction on this engine
        # instead of the caller's session: a caller's transaction that has written holds
        # SQLite's only write lock, and a model call can take seconds (the journey runner).
        self.audit_engine: Engine | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, cache_dir: Path | None = None) -> LlmClient:
        """Client on the configured backend; prices (USD per million tokens) from the env."""
        backend: Backend
        if settings.llm_base_url:
            backend = OpenAICompatibleBackend(
                settings.llm_base_url,
                settings.llm_model or "default",
                settings.llm_api_key,
                timeout_s=float(os.environ.get("CJO_LLM_TIMEOUT_S", "60")),
            )
        else:
            backend = EmbeddedBackend()
        return cls(
            backend,
            cache=ResponseCache(cache_dir),
            price_in_per_mtok=float(os.environ.get("CJO_LLM_PRICE_IN_PER_MTOK", "0")),
            price_out_per_mtok=float(os.environ.get("CJO_LLM_PRICE_OUT_PER_MTOK", "0")),
        )

    @property
    def model_name(self) -> str:
        return self.backend.model

    def structured(
        self,
        messages: Messages,
        schema: type[T],
        *,
        purpose: str = "structured",
        max_tokens: int = 256,
        temperature: float = 0.2,
        session: Session | None = None,
        use_cache: bool = True,
    ) -> T:
        """Ask for JSON matching `schema` and return it validated.

        Raises:
            LlmUnavailableError: the backend failed on every attempt.
            LlmOutputError: the output never matched the schema.
        """
        chat = (
            [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
        )
        json_schema = schema.model_json_schema()
        request = {
            "backend": self.backend.name,
            "model": self.backend.model,
            "messages": chat,
            "schema": json_schema,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        prompt_hash = digest(request)
        cached = self.cache.get(prompt_hash) if use_cache else None
        if cached is not None:
            result = schema.model_validate_json(cached)
            self._account(
                purpose, prompt_hash, cached, Completion(cached, 0, 0), 0.0, True, 0, session
            )
            return result

        attempts = 0
        started = time.perf_counter()
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.backoff_s, max=4.0),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    completion = self.backend.complete(
                        chat,
                        json_schema,
                        max_tokens=max_tokens,
                        temperature=temperature if attempts == 1 else min(1.0, temperature + 0.3),
                    )
                    try:
                        result = schema.model_validate_json(completion.text)
                    except ValidationError as exc:
                        raise _Transient(f"output does not match {schema.__name__}: {exc}") from exc
        except _Transient as exc:
            with self._lock:
                self.usage.failures += 1
            kind = LlmOutputError if "does not match" in str(exc) else LlmUnavailableError
            raise kind(str(exc)) from exc
        latency = (time.perf_counter() - started) * 1000
        text = result.model_dump_json()
        if use_cache:
            self.cache.put(prompt_hash, text)
        self._account(purpose, prompt_hash, text, completion, latency, False, attempts, session)
        return result

    def _account(
        self,
        purpose: str,
        prompt_hash: str,
        text: str,
        completion: Completion,
        latency_ms: float,
        cached: bool,
        attempts: int,
        session: Session | None,
    ) -> None:
        cost = (
            completion.prompt_tokens * self.price_in + completion.completion_tokens * self.price_out
        ) / 1e6
        call = LlmCall(
            purpose=purpose,
            backend=self.backend.name,
            model=self.backend.model,
            prompt_hash=prompt_hash,
            output_hash=digest(text),
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            latency_ms=round(latency_ms, 1),
            cost_usd=cost,
            cached=cached,
            attempts=attempts,
        )
        with self._lock:
            self.usage.record(call)
        if self.audit_engine is not None:
            with session_scope(self.audit_engine) as own:
                audit_append(own, actor="system:llm", kind="llm.call", payload=asdict(call))
        elif session is not None:
            audit_append(session, actor="system:llm", kind="llm.call", payload=asdict(call))


_clients: dict[str, LlmClient] = {}
_clients_lock = threading.Lock()


def get_llm_client(settings: Settings) -> LlmClient:
    """The process-wide client for these settings (one cache and one usage counter)."""
    key = json.dumps([settings.llm_base_url, settings.llm_model, str(settings.data_dir)])
    with _clients_lock:
        if key not in _clients:
            _clients[key] = LlmClient.from_settings(
                settings, cache_dir=settings.data_dir / "llm-cache"
            )
        return _clients[key]
