"""`cjo chat`: talk to the orchestrator in the terminal (rich), or ask once with --message.

Runs the same graph as POST /v1/chat against the configured database, on the embedded model
unless CJO_LLM_BASE_URL is set. Conversations persist: pass --conversation to continue one.
"""

from __future__ import annotations

import getpass
import sys
import uuid
from typing import Any

import typer
from rich.prompt import Confirm, Prompt

from cli.common import console, err_console, open_engine
from core.keys import Role
from core.settings import get_settings


def _show(event: dict[str, Any]) -> None:
    kind = event["type"]
    if kind == "token":
        console.print(event["text"], end="", markup=False, highlight=False)
    elif kind == "tool_call":
        args = ", ".join(f"{k}={v!r}" for k, v in event["args"].items() if v is not None)
        console.print(f"[dim]-> {event['name']}({args})[/]")
    elif kind == "tool_result" and not event["ok"]:
        console.print(f"[yellow]{event['summary']}[/]")
    elif kind == "message":
        console.print()


def chat(
    message: str | None = typer.Option(None, "--message", "-m", help="Ask once and exit."),
    role: Role = typer.Option(Role.marketer, help="Act with this role's authority."),
    conversation: str | None = typer.Option(None, help="Continue this conversation id."),
    yes: bool = typer.Option(False, "--yes", help="Confirm destructive actions without asking."),
    no_llm: bool = typer.Option(False, "--no-llm", help="Router and rules only, no model."),
) -> None:
    """Chat with the orchestrator in the terminal."""
    from agents.chat.factory import make_chat_context
    from agents.chat.graph import build_chat_graph
    from agents.chat.memory import open_checkpointer
    from agents.chat.service import run_turn

    settings = get_settings()
    engine = open_engine(settings)
    actor = f"cli:{getpass.getuser()}"
    context = make_chat_context(
        engine=engine, settings=settings, role=role, actor=actor, use_llm=not no_llm
    )
    conversation = conversation or uuid.uuid4().hex[:12]
    interactive = message is None
    if interactive:
        console.print(
            f"[bold]cjo chat[/] as {role.value} (conversation {conversation}); "
            "empty line or Ctrl-D to quit."
        )
    with open_checkpointer(settings) as saver:
        graph = build_chat_graph(saver)
        pending = message
        answer: bool | None = None
        while True:
            if pending is None:
                try:
                    pending = Prompt.ask("[bold cyan]you[/]")
                except (EOFError, KeyboardInterrupt):
                    break
                if not pending.strip():
                    break
            question = None
            for event in run_turn(
                graph, context, pending, conversation_id=conversation, confirm=answer
            ):
                _show(event)
                if event["type"] == "confirm":
                    question = event["question"]
            pending, answer = None, None
            if question is not None:
                if yes:
                    answer = True
                elif sys.stdin.isatty():
                    answer = Confirm.ask(f"[bold yellow]{question}[/]", default=False)
                else:
                    err_console.print(f"{question} (not confirmed; use --yes)")
                    answer = False
                pending = "yes" if answer else "no"
                continue
            if not interactive:
                break
    engine.dispose()
