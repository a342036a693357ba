"""`cjo keys create|list|revoke`: API keys are shown once at creation and stored hashed."""

from __future__ import annotations

import json

import typer
from sqlmodel import Session

from cli.common import console, err_console, open_engine
from core.db import session_scope
from core.keys import KeyLookupError, Role, create_key, list_keys, revoke_key
from core.tables import ApiKey

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


def _public(row: ApiKey) -> dict[str, str | None]:
    """What may be shown of a key: never the key or its hash."""
    return {
        "id": row.id,
        "prefix": row.prefix,
        "role": row.role,
        "name": row.name,
        "created_at": row.created_at.isoformat(timespec="seconds"),
        "revoked_at": row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else None,
    }


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List keys (id, prefix, role, name, created, revoked); secrets are never printed."""
    engine = open_engine()
    with Session(engine) as session:
        rows = [_public(r) for r in list_keys(session)]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print("no API keys yet: cjo keys create --role ROLE")
        return
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        console.print(
            f"{r['id']}  {r['prefix']}...  {r['role']:<8}  {r['name'] or '-':<20}  "
            f"created {r['created_at']}  {state}",
            highlight=False,
            soft_wrap=True,
        )


@app.command("revoke")
def revoke(
    key: str = typer.Argument(..., metavar="KEY_ID_OR_PREFIX", help="Key id, or its prefix."),
) -> None:
    """Revoke a key (audited); running API processes refuse it within a few seconds."""
    engine = open_engine()
    try:
        with session_scope(engine) as session:
            row, revoked_now = revoke_key(session, key, actor="cli")
            shown = _public(row)
    except KeyLookupError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(code=1) from exc
    if not revoked_now:
        console.print(
            f"key {shown['id']} ({shown['prefix']}...) was already revoked "
            f"at {shown['revoked_at']}",
            highlight=False,
        )
    else:
        console.print(
            f"revoked key {shown['id']} ({shown['prefix']}...), role {shown['role']}",
            highlight=False,
        )
