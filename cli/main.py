"""Entry point of the `cjo` command (CONTRACT.md lists the commands)."""

from __future__ import annotations

from datetime import datetime

import typer

from cli import audit, brand, journeys, keys
from cli.chat import chat

app = typer.Typer(
    name="cjo",
    help="cjo: agentic customer journey orchestrator.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(audit.app, name="audit")
app.add_typer(keys.app, name="keys")
app.add_typer(brand.app, name="brand")
app.add_typer(journeys.app, name="journeys")
app.command("chat")(chat)


@app.command("serve")
def serve(
    host: str | None = typer.Option(None, help="Bind address (default CJO_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CJO_PORT)."),
) -> None:
    """Serve the API and UI with the in-process worker."""
    from cli.serve import serve_forever

    serve_forever(host=host, port=port)


@app.command("run")
def run() -> None:
    """The main job on embedded defaults: what `make run` starts."""
    from cli.serve import serve_forever

    serve_forever(host=None, port=None, demo=True)


@app.command("worker")
def worker(
    exit_after_idle: float | None = typer.Option(
        None, "--exit-after-idle", help="Stop after this many seconds with nothing to do."
    ),
) -> None:
    """Consume the event stream (scale-out process)."""
    from cli.worker import run_worker

    run_worker(exit_after_idle)


@app.command("import")
def import_(
    path: str | None = typer.Argument(None, help="JSONL or CSV file of events."),
    dataset: str | None = typer.Option(None, "--dataset", help="A known real dataset: cdnow."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Dataset rows to import."),
    synthetic_contacts: bool = typer.Option(
        False, "--synthetic-contacts", help="cdnow: add synthetic, fictional emails/phones."
    ),
    process: bool = typer.Option(True, "--process/--no-process", help="Process after accepting."),
    as_of: datetime | None = typer.Option(
        None, "--as-of", help="Clock for trigger staleness (replays of old data)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Ingest events from a file or a known real dataset."""
    from cli.imports import run_import

    run_import(path, dataset, limit, synthetic_contacts, process, as_of, as_json)


@app.command("eval")
def eval_(
    suite: str | None = typer.Argument(None, help="Suite name; all suites when omitted."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per suite."),
) -> None:
    """Run evaluation suites and print their figures."""
    from cli.measure import run_evals

    run_evals(suite, as_json)


@app.command("bench")
def bench(
    name: str | None = typer.Argument(None, help="Benchmark name; all when omitted."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per benchmark."),
    quick: bool = typer.Option(False, "--quick", help="Smaller sizes, for smoke runs."),
) -> None:
    """Run benchmarks and print figures with ratios to a baseline measured in the same run."""
    from cli.measure import run_benches

    run_benches(name, as_json, quick)


if __name__ == "__main__":
    app()
