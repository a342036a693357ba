"""`cjo audit verify`: exit 0 when every chain is intact, else 1 naming the first bad entry."""

from __future__ import annotations

import json

import typer
from sqlmodel import Session

from cli.common import console, err_console, open_engine
from core import audit

app = typer.Typer(help="Inspect the tamper-evident audit log.", no_args_is_help=True)


@app.command("verify")
def verify(as_json: bool = typer.Option(False, "--json", help="Print a JSON report.")) -> None:
    """Re-hash every entry, check the chain links and the sealed chain head."""
    engine = open_engine()
    with Session(engine) as session:
        chains = audit.list_chains(session) or ["main"]
        reports = [audit.verify_chain(session, chain) for chain in chains]
    ok = all(r.ok for r in reports)
    if as_json:
        console.print_json(json.dumps({"ok": ok, "chains": [r.as_dict() for r in reports]}))
    for r in reports:
        if r.ok:
            if not as_json:
                console.print(f"[green]chain {r.chain!r} intact[/]: {r.entries} entries")
        else:
            where = f"id={r.first_bad_id} " if r.first_bad_id is not None else "(missing) "
            err_console.print(
                f"[bold red]chain {r.chain!r} broken[/] at entry {where}"
                f"seq={r.first_bad_seq}: {r.reason}",
                highlight=False,
            )
    raise typer.Exit(code=0 if ok else 1)
