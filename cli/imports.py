"""`cjo import PATH` and `cjo import --dataset cdnow`: accept events, then process them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdp.datasets import cdnow_messages
from cdp.importer import ImportReport, import_messages, read_file
from cdp.pipeline import process_pending
from cli.common import console, err_console, open_engine
from core.clock import as_utc
from core.settings import get_settings

DATASETS = ("cdnow",)


def _publish(url: str, records: Iterable[tuple[int, dict[str, Any] | str]], as_json: bool) -> None:
    """With CJO_STREAM_URL set, imports go to JetStream; `cjo worker` processes accept them."""
    from cdp.stream import publish

    messages = [r for _, r in records if isinstance(r, dict)]
    count = asyncio.run(publish(url, messages))
    summary = {"published": count, "stream_url": url}
    print(json.dumps(summary)) if as_json else console.print(f"published {count} to {url}")


def run_import(
    path: str | None,
    dataset: str | None,
    limit: int | None,
    synthetic_contacts: bool,
    process: bool,
    as_of: datetime | None,
    as_json: bool,
) -> None:
    if (path is None) == (dataset is None):
        err_console.print("[red]give either PATH or --dataset NAME[/]")
        raise typer.Exit(code=2)
    if dataset is not None and dataset not in DATASETS:
        err_console.print(f"[red]unknown dataset {dataset!r}[/]; known: {', '.join(DATASETS)}")
        raise typer.Exit(code=2)
    if path is not None and not Path(path).is_file():
        err_console.print(f"[red]no such file: {path}[/]")
        raise typer.Exit(code=2)
    records: Iterable[tuple[int, dict[str, Any] | str]]
    if dataset == "cdnow":
        records = enumerate(cdnow_messages(limit=limit, synthetic_contacts=synthetic_contacts), 1)
    else:
        records = read_file(Path(str(path)))
    settings = get_settings()
    if settings.stream_url:
        _publish(settings.stream_url, records, as_json)
        return
    engine = open_engine()
    total = None
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err_console, disable=as_json) as progress:
        task = progress.add_task("accepting", total=total)
        report: ImportReport = import_messages(
            engine, records, on_progress=lambda n: progress.advance(task, n)
        )
        processed = 0
        if process:
            task2 = progress.add_task("processing", total=report.accepted or None)
            now = as_utc(as_of) if as_of else None
            while n := process_pending(engine, limit=2000, now=now):
                processed += n
                progress.advance(task2, n)
    summary = {**report.as_dict(), "processed": processed}
    if as_json:
        print(json.dumps(summary))
    else:
        console.print(
            f"read {report.read}, accepted {report.accepted}, duplicates {report.duplicates}, "
            f"invalid {report.invalid}, processed {processed}"
        )
        for line in report.errors:
            err_console.print(f"  [yellow]{line}[/]")
    engine.dispose()
    if report.invalid and not report.accepted and not report.duplicates:
        raise typer.Exit(code=1)
