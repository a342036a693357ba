"""Conversation memory: the LangGraph checkpointer beside the configured database.

The same savers as the journey graphs (agents/checkpointing.py): PostgresSaver when the
database is PostgreSQL, else SqliteSaver in its own file `<data_dir>/chat-memory.sqlite`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver

from agents.checkpointing import Checkpointer
from agents.checkpointing import make_checkpointer as _make
from core.settings import Settings

__all__ = ["make_chat_checkpointer", "open_checkpointer"]


def make_chat_checkpointer(settings: Settings) -> Checkpointer:
    """A ready saver for chat threads (`.saver`) and how to close it (`.close`)."""
    return _make(settings, sqlite_path=settings.ensure_data_dir() / "chat-memory.sqlite")


@contextmanager
def open_checkpointer(settings: Settings) -> Iterator[BaseCheckpointSaver[str]]:
    """`make_chat_checkpointer` as a block that closes it at the end."""
    checkpointer = make_chat_checkpointer(settings)
    try:
        yield checkpointer.saver
    finally:
        checkpointer.close()
