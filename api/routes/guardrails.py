"""Dry run of the guardrails for marketers: test copy and policies; sends nothing."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.deps import MarketerDep, SessionDep
from api.errors import ApiError, field_errors
from core.domain import CHANNELS
from guardrails.engine import check_text

router = APIRouter(prefix="/v1/guardrails", tags=["guardrails"])


class OfferBody(BaseModel):
    """The offer fields the checks compute with are numbers; others pass through."""

    model_config = ConfigDict(extra="allow")
    discount_pct: float | None = Field(default=None, ge=0, le=100)
    value: float | None = Field(default=None, ge=0, le=1e9)


class ActionBody(BaseModel):
    """A planned action to dry-run; unknown keys are refused (a typo would check nothing)."""

    model_config = ConfigDict(extra="forbid")
    channel: Literal[CHANNELS] | None = None  # type: ignore[valid-type]
    customer_id: str | None = Field(default=None, max_length=200)
    action_id: str | None = Field(default=None, max_length=100)
    journey_slug: str | None = Field(default=None, max_length=100)
    content: dict[str, str] = Field(default_factory=dict)
    offer: OfferBody | None = None
    recipient: str | None = Field(default=None, max_length=320)
    conformance_score: float | None = Field(default=None, ge=0, le=1)
    model_confidence: float | None = Field(default=None, ge=0, le=1)


class CheckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=100_000)
    source: Literal["customer", "generated"]
    channel: Literal[CHANNELS] | None = None  # type: ignore[valid-type]
    customer_id: str | None = Field(default=None, max_length=200)
    action: ActionBody | None = Field(
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
            action=body.action.model_dump(exclude_none=True) if body.action else None,
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
