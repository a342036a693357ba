"""Segment-spec ingestion: /v1/track, /identify, /page, /screen, /group, /alias and /batch.

Each single-message endpoint fixes the message's `type` (a body's own `type` is ignored, so a
/v1/page call is always stored as a page). The handler validates, stores the event durably
(deduplicated by messageId) and commits before answering 202; processing (identity, profile,
triggers) happens in the worker right after.

Handlers only read the body on the event loop; parsing, validation and the database write run
in the threadpool, because on SQLite the write may wait for the lock (up to the busy timeout)
and a wait on the loop would stall every other request, /health included.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, ServiceDep
from api.errors import ApiError, field_errors
from cdp.events import MESSAGE_ADAPTER, MESSAGE_TYPES, AnyMessage
from cdp.ingest import accept
from core.db import session_scope

router = APIRouter(prefix="/v1", tags=["ingest"])

MAX_BATCH_ITEMS = 2500


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from exc


def _validate(payload: Any, kind: str) -> AnyMessage:
    if not isinstance(payload, dict):
        raise ApiError(
            422, "body must be a JSON object", fields=[{"field": "body", "reason": "not an object"}]
        )
    payload = {**payload, "type": kind}  # the endpoint says what it is, not the body
    try:
        return MESSAGE_ADAPTER.validate_python(payload)
    except ValidationError as exc:
        fields = _clean(field_errors(exc.errors(), ("body",)))
        summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields[:5])
        raise ApiError(422, f"invalid {kind} message: {summary}", fields=fields) from exc


def _clean(fields: list[dict[str, str]]) -> list[dict[str, str]]:
    # pydantic puts the union tag in the location (body.track.event); callers want body.event
    out = []
    for f in fields:
        parts = f["field"].split(".")
        if len(parts) > 1 and parts[1] in MESSAGE_TYPES:
            parts.pop(1)
        out.append({"field": ".".join(parts), "reason": f["reason"]})
    return out


def _accept_one(engine: Any, message: AnyMessage) -> dict[str, Any]:
    with session_scope(engine) as session:
        (fresh,) = accept(session, [message])
    return {"success": True, "duplicate": not fresh}


def _ingest_one(body: bytes, kind: str, engine: Any) -> dict[str, Any]:
    return _accept_one(engine, _validate(_parse_json(body), kind))


def _single(kind: str) -> Any:
    async def endpoint(request: Request, engine: EngineDep, _: ServiceDep) -> Any:
        return await run_in_threadpool(_ingest_one, await request.body(), kind, engine)

    endpoint.__name__ = f"ingest_{kind}"
    endpoint.__doc__ = f"Accept one Segment `{kind}` message; 202 once it is stored."
    return endpoint


for _kind in MESSAGE_TYPES:
    router.add_api_route(f"/{_kind}", _single(_kind), methods=["POST"], status_code=202)


@router.post("/batch", status_code=202)
async def batch(request: Request, engine: EngineDep, _: ServiceDep) -> dict[str, Any]:
    """Accept many messages (each with `type`); answers per item, stores only the valid ones.

    202 when at least one item was stored or was a duplicate; 422 when none is valid.
    """
    return await run_in_threadpool(_ingest_batch, await request.body(), engine)


def _ingest_batch(raw: bytes, engine: Any) -> dict[str, Any]:
    body = _parse_json(raw)
    items = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ApiError(
            422,
            "body.batch must be a list of messages",
            fields=[{"field": "body.batch", "reason": "required list"}],
        )
    if len(items) > MAX_BATCH_ITEMS:
        raise ApiError(413, f"batch has {len(items)} items; at most {MAX_BATCH_ITEMS} per request")
    results: list[dict[str, Any]] = []
    valid: list[tuple[int, AnyMessage]] = []
    for i, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValueError("not an object")
            valid.append((i, MESSAGE_ADAPTER.validate_python(item)))
            results.append({"index": i, "status": "accepted"})
        except ValidationError as exc:
            fields = [
                {"field": f"body.{f['field']}", "reason": f["reason"]}
                for f in _strip_tag(field_errors(exc.errors(), ("batch", i)))
            ]
            results.append({"index": i, "status": "invalid", "errors": fields})
        except ValueError as exc:
            results.append(
                {
                    "index": i,
                    "status": "invalid",
                    "errors": [{"field": f"body.batch.{i}", "reason": str(exc)}],
                }
            )
    if not valid:
        fields = [e for r in results for e in r.get("errors", [])]
        raise ApiError(422, "no valid message in the batch", fields=fields)
    with session_scope(engine) as session:
        fresh = accept(session, [m for _, m in valid])
    for (i, message), is_new in zip(valid, fresh, strict=True):
        results[i]["messageId"] = message.message_id
        if not is_new:
            results[i]["status"] = "duplicate"
    counts = {
        s: sum(1 for r in results if r["status"] == s) for s in ("accepted", "duplicate", "invalid")
    }
    return {"success": True, **counts, "items": results}


def _strip_tag(fields: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for f in fields:
        parts = f["field"].split(".")
        if len(parts) > 2 and parts[2] in MESSAGE_TYPES:
            parts.pop(2)
        out.append({"field": ".".join(parts), "reason": f["reason"]})
    return out
