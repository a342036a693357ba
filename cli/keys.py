"""`cjo keys create --role ROLE`: print a new API key (shown once, stored hashed)."""

from __future__ import annotations

import typer

from cli.common import console, open_engine
from core.db import session_scope
from core.keys import Role, create_key

app = typer.Typer(help="Manage API keys.", no_args_is_help=True)


@app.command("create")
def create(
    role: Role = typer.Option(..., "--role", help="admin, marketer, reviewer or service"),
    name: str = typer.Option("", "--name", help="A label to recognise the key by."),
) -> None:
    """Create a key and print it; only its hash is stored."""
    engine = open_engine()
    with session_scope(engine) as session:
        created = create_key(session, role=role, name=name, actor="cli")
    console.print(created.key, highlight=False, soft_wrap=True)
