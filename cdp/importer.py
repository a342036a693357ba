"""Bulk import of Segment messages from JSONL/CSV files or datasets, through the same accept path.

Imports go through validation and `cdp.ingest.accept` exactly like the HTTP API (same dedup,
same durability), in chunks of one transaction each; processing then drains the queue.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine

from cdp.events import MESSAGE_ADAPTER, MESSAGE_TYPES, AnyMessage
from cdp.ingest import accept
from core.db import session_scope

__all__ = [
    "ImportReport",
    "Message",
    "import_messages",
    "read_file",
    "valid_messages",
    "validation_reason",
]

_NESTED = ("properties", "traits", "context")


@dataclass
class ImportReport:
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "errors": self.errors,
        }


def _csv_message(row: dict[str, str]) -> dict[str, Any]:
    """A flat CSV row: top-level columns as they are, `properties.x` / `traits.x` nested."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value in (None, ""):
            continue
        head, _, rest = key.partition(".")
        if head in _NESTED and rest:
            out.setdefault(head, {})[rest] = _scalar(value)
        else:
            out[key] = value
    return out


def _scalar(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def read_file(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line, message) per record; message is an error text for unreadable lines."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                yield line, _csv_message(row)
        return
    with path.open(encoding="utf-8") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield line, json.loads(raw)
            except json.JSONDecodeError as exc:
                yield line, f"not JSON: {exc.msg}"


def _with_type(message: dict[str, Any]) -> dict[str, Any]:
    if "type" in message:
        return message
    return {**message, "type": "track" if "event" in message else "identify"}


def _loc(loc: tuple[Any, ...]) -> str:
    """`track.event` -> `event`: the union tag pydantic puts first is noise to the reader."""
    parts = list(loc)
    if parts and parts[0] in MESSAGE_TYPES:
        parts.pop(0)
    return ".".join(str(p) for p in parts) or "message"


# What an import yields: any Segment message the API accepts (cdp.events).
Message = AnyMessage


def validation_reason(exc: ValidationError) -> str:
    """`event: Field required; userId: ...`: the fields and why, as an import or the DLQ says."""
    return "; ".join(f"{_loc(e['loc'])}: {e['msg']}" for e in exc.errors())


def valid_messages(
    records: Iterable[tuple[int, dict[str, Any] | str]],
    report: ImportReport,
    *,
    on_invalid: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, Message]]:
    """(line, validated message) per record that the API would accept; the others are counted
    in `report` and named by line, field and reason (the first 20), never passed on.

    Records are validated one at a time as they are read, so a file is never held whole.
    """
    for line, record in records:
        report.read += 1
        try:
            if isinstance(record, str):
                raise ValueError(record)
            message = MESSAGE_ADAPTER.validate_python(_with_type(record))
        except (ValidationError, ValueError) as exc:
            report.invalid += 1
            if len(report.errors) < 20:
                reason = validation_reason(exc) if isinstance(exc, ValidationError) else str(exc)
                report.errors.append(f"line {line}: {reason}")
            if on_invalid:
                on_invalid(1)
            continue
        yield line, message


def import_messages(
    engine: Engine,
    records: Iterable[tuple[int, dict[str, Any] | str]],
    *,
    chunk: int = 2000,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate and accept records; invalid ones are counted and named by line, never stored."""
    report = ImportReport()
    pending: list[AnyMessage] = []

    def flush() -> None:
        if not pending:
            return
        with session_scope(engine) as session:
            fresh = accept(session, pending)
        report.accepted += sum(fresh)
        report.duplicates += len(fresh) - sum(fresh)
        if on_progress:
            on_progress(len(pending))
        pending.clear()

    for _line, message in valid_messages(records, report, on_invalid=on_progress):
        pending.append(message)
        if len(pending) >= chunk:
            flush()
    flush()
    return report
