"""What CLI commands share: the consoles and an engine with the schema migrated."""

from __future__ import annotations

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
