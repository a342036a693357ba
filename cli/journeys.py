"""`cjo journeys load DIR` / `cjo journeys list`: put journey YAML into service, see what runs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from sqlmodel import Session, col, select

from agents.journey.spec import JourneySpecError
from agents.journey.store import save_journey
from cli.common import console, err_console, open_engine
from core.db import session_scope
from core.tables import Journey

app = typer.Typer(help="Journey definitions (YAML).", no_args_is_help=True)


@app.command("load")
def load(directory: Path = typer.Argument(..., help="Folder of journey *.yaml files.")) -> None:
    """Validate and store every journey in DIR (a changed journey needs a new version)."""
    files = sorted(directory.glob("*.yaml")) if directory.is_dir() else []
    if not files:
        err_console.print(f"[red]no *.yaml journeys in {directory}[/]")
        raise typer.Exit(code=2)
    engine = open_engine()
    for path in files:
        try:
            with session_scope(engine) as session:
                row = save_journey(session, path.read_text(), actor="cli")
        except (JourneySpecError, ValueError) as exc:
            err_console.print(f"[red]{path.name}[/]: {exc}")
            raise typer.Exit(code=1) from exc
        console.print(f"{path.name}: {row.slug} v{row.version} ({row.status})")


@app.command("list")
def list_journeys() -> None:
    """Every stored journey version with its status."""
    engine = open_engine()
    with Session(engine) as session:
        rows = session.exec(select(Journey).order_by(col(Journey.slug), col(Journey.version))).all()
    table = Table("slug", "version", "status", "name")
    for row in rows:
        table.add_row(row.slug, str(row.version), row.status, row.name)
    console.print(table)
