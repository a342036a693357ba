"""Dry run of the guardrails for marketers: test copy and policies; sends nothing."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, ValidationError

from api.deps import MarketerDep, SessionDep
from api.errors import ApiError, field_errors
from core.domain import CHANNELS
from guardrails.engine import check_text

router = APIRouter(prefix="/v1/guardrails", tags=["guardrails"])


class CheckBody(BaseModel):
    text: str = Field(max_length=100_000)
    source: Literal["customer", "generated"]
    channel: Literal[CHANNELS] | None = None  # type: ignore[valid-type]
    customer_id: str | None = Field(default=None, max_length=200)
    action: dict[str, Any] | None = Field(
        default=None, description="A planned action (content, offer, recipient, ...)."
    )


@router.post("/check")
def check(body: CheckBody, session: SessionDep, _: MarketerDep) -> dict[str, Any]:
    """Every verdict with its reasons; the most severe outcome wins."""
    try:
        report = check_text(
            session,
            text=body.text,
            source=body.source,
            channel=body.channel,
            customer_id=body.customer_id,
            action=body.action,
        )
    except ValidationError as exc:
        fields = field_errors(exc.errors(), prefix=("body", "action"))
        raise ApiError(422, "invalid planned action in body.action", fields=fields) from exc
    return {
        "outcome": report.outcome.value,
        "verdicts": [
            {"check": v.check, "outcome": v.outcome.value, "reasons": v.reasons}
            for v in report.verdicts
        ],
        "risk_score": report.risk_score,
        "policy_version": report.policy_version,
        "hold_until": report.hold_until.isoformat() if report.hold_until else None,
    }
