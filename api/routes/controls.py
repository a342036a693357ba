"""The kill switch: pause and resume everything, one channel, or one journey."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from api.deps import MarketerDep, SessionDep
from api.errors import ApiError
from core import controls
from core.domain import CHANNELS
from core.tables import Control

router = APIRouter(prefix="/v1/controls", tags=["controls"])


class ControlBody(BaseModel):
    scope: Literal["all", "channel", "journey"]
    target: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=500)

    @field_validator("target", mode="after")
    @classmethod
    def _target_fits_scope(cls, target: str | None, info: ValidationInfo) -> str | None:
        """Stripped (a pause on " winback " would pause nothing); none for scope `all`."""
        scope = info.data.get("scope")
        target = target.strip() if target else None
        if scope == "all" and target:
            raise ValueError("scope 'all' takes no target")
        if scope == "channel" and target not in CHANNELS:
            raise ValueError(f"scope 'channel' needs one of {', '.join(CHANNELS)}")
        if scope == "journey" and not target:
            raise ValueError("scope 'journey' needs the journey slug")
        return target


def _public(row: Control) -> dict[str, Any]:
    return {
        "scope": row.scope,
        "target": row.target,
        "paused": row.paused,
        "reason": row.reason,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at.isoformat(),
    }


def _set(body: ControlBody, session: Any, actor: str, paused: bool) -> dict[str, Any]:
    if (
        paused
        and body.scope == "journey"
        and not controls.journey_exists(session, body.target or "")
    ):
        raise ApiError(
            422,
            f"no journey with slug {body.target!r}; nothing would be paused",
            fields=[{"field": "body.target", "reason": "unknown journey slug"}],
        )
    row = controls.set_paused(
        session,
        scope=body.scope,
        target=body.target or "*",
        paused=paused,
        actor=actor,
        reason=body.reason,
    )
    return {
        "control": _public(row),
        "active": [_public(c) for c in controls.active_pauses(session)],
    }


@router.post("/pause")
def pause(body: ControlBody, session: SessionDep, who: MarketerDep) -> dict[str, Any]:
    """Stop new and queued actions in scope at once; they are held, not dropped."""
    return _set(body, session, who.actor, True)


@router.post("/resume")
def resume(body: ControlBody, session: SessionDep, who: MarketerDep) -> dict[str, Any]:
    """Lift a pause; held actions continue."""
    return _set(body, session, who.actor, False)


@router.get("")
def current(session: SessionDep, _: MarketerDep) -> dict[str, Any]:
    """Pauses in force now."""
    return {"active": [_public(c) for c in controls.active_pauses(session)]}
