"""`cjo import PATH` and `cjo import --dataset cdnow`: accept events, then process them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdp.datasets import cdnow_messages
from cdp.importer import ImportReport, import_messages, read_file, valid_messages
from cdp.pipeline import process_pending
from cli.common import console, err_console, open_engine
from core.clock import as_utc
from core.settings import get_settings

DATASETS = ("cdnow",)


def _progress(as_json: bool) -> Progress:
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    return Progress(*columns, console=err_console, disable=as_json)


def _publish(url: str, records: Iterable[tuple[int, dict[str, Any] | str]], as_json: bool) -> None:
    """With CJO_STREAM_URL set, imports go to JetStream; `cjo worker` processes accept them.

    Each record is validated as the API would before it is published (the worker could not
    read anything else); the rejected ones are counted and named like a direct import's.
    The file is read as it is published, never held whole.
    """
    from cdp.stream import publish, stream_payload

    report = ImportReport()
    with _progress(as_json) as progress:
        task = progress.add_task("publishing", total=None)

        def advance(n: int) -> None:
            progress.advance(task, n)

        def payloads() -> Iterator[dict[str, Any]]:
            for _line, message in valid_messages(records, report, on_invalid=advance):
                yield stream_payload(message)
                advance(1)

        count = asyncio.run(publish(url, payloads()))
    summary = {
        "read": report.read,
        "published": count,
        "invalid": report.invalid,
        "errors": report.errors,
        "stream_url": url,
    }
    if as_json:
        print(json.dumps(summary))
    else:
        console.print(f"read {report.read}, published {count} to {url}, invalid {report.invalid}")
        for line in report.errors:
            err_console.print(f"  [yellow]{line}[/]")
    if report.invalid and not count:
        raise typer.Exit(code=1)


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
    with _progress(as_json) as progress:
        task = progress.add_task("accepting", total=None)
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
