"""What CLI commands share: settings, an engine with the schema migrated, plain failures."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from sqlalchemy.engine import Engine

from core.db import make_engine, migrate
from core.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)


def open_engine(settings: Settings | None = None) -> Engine:
    """Engine on the configured database, migrated to the newest schema."""
    settings = settings or get_settings()
    settings.ensure_data_dir()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    return engine


def not_available(command: str, issue: str) -> NoReturn:
    """Say plainly that a capability is not built yet and exit non-zero (never pretend)."""
    err_console.print(f"[bold red]cjo {command}[/]: not available yet ({issue}).")
    raise typer.Exit(code=2)
