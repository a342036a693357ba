"""Typed tools the marketer chat agent may call; each docstring is the tool's contract."""

from tools.chat.env import ToolEnv, ToolError, ToolResult
from tools.chat.registry import TOOLS, ToolSpec, tool_by_name, tools_for_role

__all__ = [
    "TOOLS",
    "ToolEnv",
    "ToolError",
    "ToolResult",
    "ToolSpec",
    "tool_by_name",
    "tools_for_role",
]
