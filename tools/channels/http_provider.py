"""One HTTP POST to a provider, with failures sorted into transient and permanent.

429, 408, 5xx, timeouts and connection errors are transient (the provider may accept later;
its Retry-After is passed on); any other 4xx is permanent (the request itself is wrong).
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from core.clock import utcnow
from tools.channels.base import PermanentSendError, TransientSendError

__all__ = ["parse_retry_after", "post"]

_TRANSIENT_STATUS = frozenset({408, 425, 429})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.replace(".", "", 1).isdigit():
        return max(0.0, float(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or utcnow())).total_seconds())


def post(
    client: httpx.Client,
    url: str,
    *,
    headers: dict[str, str],
    data: dict[str, str] | None = None,
    json: Any = None,
    content: bytes | None = None,
) -> httpx.Response:
    """POST and return the 2xx response, or raise Transient/PermanentSendError."""
    try:
        response = client.post(url, headers=headers, data=data, json=json, content=content)
    except httpx.TimeoutException as exc:
        raise TransientSendError(f"timeout: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise TransientSendError(f"transport error: {type(exc).__name__}: {exc}") from exc
    status = response.status_code
    if 200 <= status < 300:
        return response
    snippet = response.text[:200].replace("\n", " ")
    if status in _TRANSIENT_STATUS or status >= 500:
        raise TransientSendError(
            f"HTTP {status}: {snippet}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    raise PermanentSendError(f"HTTP {status}: {snippet}")
