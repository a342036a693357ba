"""Start the API + UI with the orchestrator's background services (and, for `cjo run`, the demo)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
import uvicorn
from pydantic import ValidationError
from rich.panel import Panel
from sqlalchemy.engine import Engine

from api.app import create_app
from cli.common import console, err_console, open_engine
from core.db import make_engine, session_scope
from core.keys import KeyLookupError, Role, create_key
from core.secrets import write_private
from core.settings import Settings, get_settings


def demo_keys(settings: Settings, engine: Engine) -> dict[str, str]:
    """One key per role for the local demo, kept in data_dir so a second `make run` reuses them.

    Only for the embedded, loopback-bound demo. The file is private (0600) from its first byte
    (core.secrets.write_private). A demo key the operator revoked is replaced by a new one.
    """
    path = Path(settings.data_dir) / "demo-keys.json"
    keys: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    with session_scope(engine) as session:
        for role in Role:
            name = f"demo-{role.value}"
            try:
                created = create_key(
                    session, role=role, name=name, actor="system", key=keys.get(role.value)
                )
            except KeyLookupError:  # revoked: issue a fresh one rather than refuse to start
                created = create_key(session, role=role, name=name, actor="system")
            keys[role.value] = created.key
    write_private(path, json.dumps(keys, indent=2))
    return keys


def settings_for_serving(host: str | None, port: int | None) -> Settings:
    """The process settings with `--host` / `--port` applied and validated again.

    Exits with status 2 and the reason when the result is insecure (a dev admin key on a
    reachable address), exactly as the same values given through CJO_HOST would.
    """
    try:
        return get_settings().with_overrides(host=host, port=port)
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        err_console.print(f"[bold red]refusing to start:[/] {reasons}", highlight=False)
        raise typer.Exit(code=2) from exc


def serve_forever(host: str | None, port: int | None, demo: bool = False) -> None:
    from cli.services import build_orchestrator

    settings = settings_for_serving(host, port)
    host, port = settings.host, settings.port
    engine = open_engine(settings)  # migrated here, once
    if demo:
        keys = demo_keys(settings, engine)
        lines = "\n".join(f"[bold]{role:<9}[/] {key}" for role, key in keys.items())
        console.print(
            Panel(
                f"cjo is starting on [link]http://{host}:{port}[/link]\n"
                f"console: http://{host}:{port}/   API docs: http://{host}:{port}/docs\n\n"
                f"API keys for this demo (also in {settings.data_dir}/demo-keys.json):\n{lines}\n\n"
                "Log in to the console with the reviewer key to approve flagged actions.",
                title="cjo run",
                expand=False,
            )
        )
    console.print("loading the churn model, brand kit and channels ...")
    orchestrator = build_orchestrator(settings, engine, demo=demo)
    services = list(orchestrator.services)
    if demo:
        from cli.demo import DemoReplay, DemoReporter

        # the summary only reads: on SQLite a read-only engine never waits for the write lock
        reader = (
            make_engine(settings.resolved_database_url, read_only=True)
            if settings.resolved_database_url.startswith("sqlite")
            else engine
        )
        services += [DemoReplay(engine), DemoReporter(reader, console)]
    app = create_app(settings, engine=engine, services=services, run_migrations=False)
    if demo:  # the terminal shows the live summary; request logs would drown it
        logging.getLogger("cjo.http").setLevel(logging.WARNING)
    uvicorn.run(app, host=host, port=port, log_level="warning")
