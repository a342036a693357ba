"""`cjo brand ...`: manage the brand DNA store."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import console, err_console
from core.settings import get_settings

app = typer.Typer(help="Brand DNA store.", no_args_is_help=True)


@app.command("ingest")
def ingest(directory: Path = typer.Argument(..., help="Brand kit folder.")) -> None:
    """Load a brand kit into the brand DNA store and make it the active version."""
    from brand.kit import BrandKitError
    from brand.store import BrandStore

    store = BrandStore.open(get_settings())
    try:
        version = store.ingest(directory)
    except BrandKitError as exc:
        err_console.print(f"[bold red]cjo brand ingest[/]: {exc}")
        raise typer.Exit(code=1) from exc
    kit = store.kit
    console.print(
        f"brand kit [bold]{kit.name}[/] version {version}: {len(kit.claims)} claims, "
        f"{len(kit.products)} products, {len(kit.offers)} offers, "
        f"{len(kit.exemplars)}/{len(kit.anti_exemplars)} exemplars/anti-exemplars"
    )


@app.command("version")
def version() -> None:
    """Print the active brand-kit version."""
    from brand.store import BrandStore

    current = BrandStore.open(get_settings()).version
    if not current:
        err_console.print("no brand kit ingested yet; run `cjo brand ingest DIR`")
        raise typer.Exit(code=1)
    print(current)
