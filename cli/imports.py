"""`cjo import PATH` and `cjo import --dataset cdnow`: accept events, then process them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdp.datasets import cdnow_messages
from cdp.importer import ImportReport, import_messages, read_file
from cdp.pipeline import process_pending
from cli.common import console, err_console, open_engine
from core.clock import as_utc

DATASETS = ("cdnow",)


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
    engine = open_engine()
    if dataset == "cdnow":
        records = enumerate(cdnow_messages(limit=limit, synthetic_contacts=synthetic_contacts), 1)
        total = None
    else:
        records = read_file(Path(str(path)))
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
