"""Unified customer profiles and timelines (marketer role)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from api.deps import MarketerDep, SessionDep
from api.errors import ApiError
from cdp.events import event_time
from cdp.identity import resolve_customer_id
from cdp.profiles import get_profile_view
from cdp.timeline import timeline

router = APIRouter(prefix="/v1/customers", tags=["customers"])


@router.get("/{customer_id}")
def get_customer(
    customer_id: str,
    session: SessionDep,
    _: MarketerDep,
    as_of: Annotated[
        datetime | None,
        Query(description="Derive time-based traits as of this time (1970..next year)."),
        AfterValidator(event_time),
    ] = None,
) -> dict[str, Any]:
    """The unified profile; `customer_id` is the canonical id or any known userId/email/phone."""
    view = get_profile_view(session, customer_id, as_of=as_of)
    if view is None:
        raise ApiError(404, f"no customer known as {customer_id!r}")
    return view.model_dump(mode="json")


@router.get("/{customer_id}/timeline")
def get_timeline(
    customer_id: str,
    session: SessionDep,
    _: MarketerDep,
    limit: int = Query(default=200, ge=1, le=1000),
) -> dict[str, Any]:
    """Events, trigger firings, decisions and actions for one customer, newest first."""
    canonical = resolve_customer_id(session, customer_id)
    if canonical is None:
        raise ApiError(404, f"no customer known as {customer_id!r}")
    return {"customer_id": canonical, "items": timeline(session, canonical, limit=limit)}
