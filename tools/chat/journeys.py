"""Chat tools for journeys: draft one from a goal (saved only as a proposal), list, accept.

A draft is validated by the same schema as hand-written journeys and stored as a
`core.tables.Journey` row with status "proposed". Only `accept_journey`, which the chat graph
runs after the marketer's explicit confirmation, makes it active; both steps are audited.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

import yaml
from sqlmodel import col, func, select

from agents.journey.spec import JourneySpecError, load_journey_yaml
from agents.journey.store import save_journey
from core import audit
from core.tables import Journey
from tools.chat.catalog import actions
from tools.chat.env import ToolEnv, ToolError, ToolResult
from tools.chat.journey_draft import picture, plan_journey

__all__ = [
    "accept_journey",
    "bind_accept",
    "draft_journey",
    "list_journeys",
    "validate_journey_yaml",
]

JourneyStatus = Literal["active", "paused", "proposed"]


def validate_journey_yaml(text: str) -> dict[str, Any]:
    """Validate with the journey schema (agents/journey/spec.py); errors name the field."""
    try:
        return load_journey_yaml(text).model_dump(mode="json")
    except JourneySpecError as exc:
        raise ToolError(f"the draft does not validate: {exc}") from exc


def _latest(env: ToolEnv, slug: str, status: str | None = None) -> Journey | None:
    query = select(Journey).where(Journey.slug == slug)
    if status:
        query = query.where(Journey.status == status)
    return env.session.exec(query.order_by(col(Journey.version).desc())).first()


def draft_journey(env: ToolEnv, goal: str) -> ToolResult:
    """Draft a journey from a goal in plain words (e.g. "win-back for lapsed VIPs with a CSM
    call for the top tier"): trigger, steps with catalog actions, waits, review settings.
    The draft is saved only as a proposal; a marketer must accept it to make it active."""
    if len(goal.strip()) < 8:
        raise ToolError("describe the journey's goal in a few words")
    spec = plan_journey(goal, actions(env))
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    validate_journey_yaml(text)
    current = _latest(env, spec["slug"])
    version = (
        env.session.exec(
            select(func.max(Journey.version)).where(Journey.slug == spec["slug"])
        ).one()
        or 0
    ) + 1
    if version > 1:
        spec["version"] = version
        text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    try:
        row = save_journey(env.session, text, actor=env.actor, status="proposed")
    except ValueError as exc:
        raise ToolError(str(exc)) from exc
    diff = ""
    if current is not None:
        diff = "".join(
            difflib.unified_diff(
                current.definition.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{current.slug} v{current.version}",
                f"{row.slug} v{version} (proposed)",
            )
        )
    summary = (
        f"Drafted journey {row.slug} v{version} ({row.name}), saved as a proposal "
        f"{row.id[:8]}; it is not active until a marketer accepts it.\n"
        f"{picture(spec)}\n\n{diff or text}"
    )
    return ToolResult(
        summary=summary,
        changed=True,
        data={
            "journey_id": row.id,
            "slug": row.slug,
            "version": version,
            "status": "proposed",
            "yaml": text,
            "diff": diff,
        },
    )


def list_journeys(env: ToolEnv, status: JourneyStatus | None = None) -> ToolResult:
    """List journeys with their version and status (active, paused or proposed)."""
    query = select(Journey).order_by(col(Journey.slug), col(Journey.version))
    if status:
        query = query.where(Journey.status == status)
    rows: list[dict[str, Any]] = [
        {
            "journey_id": j.id,
            "slug": j.slug,
            "version": j.version,
            "name": j.name,
            "status": j.status,
        }
        for j in env.session.exec(query)
    ]
    lines = [
        f"- {r['slug']} v{r['version']} {r['status']}: {r['name']} ({r['journey_id'][:8]})"
        for r in rows
    ]
    head = f"{len(rows)} journeys" + (f" {status}" if status else "")
    return ToolResult(
        summary="\n".join([head + ":", *lines]) if rows else head + ".", data={"journeys": rows}
    )


def _proposal(env: ToolEnv, journey: str | None) -> Journey:
    if not journey:  # "accept the proposal": the newest one
        newest = env.session.exec(
            select(Journey)
            .where(Journey.status == "proposed")
            .order_by(col(Journey.created_at).desc())
        ).first()
        if newest is None:
            raise ToolError("there is no proposed journey; draft one first")
        return newest
    wanted = journey.strip()
    row = None
    if re.fullmatch(r"[0-9a-fA-F]{4,64}", wanted):  # a proposal id, or its first characters
        rows = env.session.exec(
            select(Journey)
            .where(Journey.status == "proposed")
            .where(col(Journey.id).startswith(wanted.lower(), autoescape=True))
            .limit(2)
        ).all()
        if len(rows) > 1:
            raise ToolError(f"proposal id {wanted!r} is ambiguous; give more characters")
        row = rows[0] if rows else None
    row = row or _latest(env, wanted, "proposed")
    if row is None:
        raise ToolError(f"no proposed journey {wanted!r}; draft one first")
    return row


def bind_accept(env: ToolEnv, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Pin the acceptance to the proposal that exists now, and name it in the question."""
    row = _proposal(env, args.get("journey"))
    question = (
        f"Accepting makes journey {row.slug} v{row.version} (proposal {row.id[:8]}) active: "
        "it will start contacting customers. Go ahead?"
    )
    return {**args, "proposal_id": row.id}, question


def accept_journey(
    env: ToolEnv, journey: str | None = None, proposal_id: str | None = None
) -> ToolResult:
    """Accept a proposed journey (slug or proposal id; the newest proposal when omitted) and
    make it active. Marketers only, and only after they confirm; the acceptance is audited.
    `proposal_id` is set by the confirmation step: the proposal its question named."""
    if proposal_id:
        row = env.session.get(Journey, proposal_id)
        if row is None or row.status != "proposed":
            raise ToolError("that proposal is no longer waiting to be accepted; nothing changed")
    else:
        row = _proposal(env, journey)
    validate_journey_yaml(row.definition)
    row.status = "active"
    env.session.add(row)
    env.session.flush()
    audit.append(
        env.session,
        actor=env.actor,
        kind="journey.accepted",
        subject_type="journey",
        subject_id=row.id,
        journey_id=row.slug,
        payload={"slug": row.slug, "version": row.version, "conversation_id": env.conversation_id},
    )
    return ToolResult(
        summary=f"Journey {row.slug} v{row.version} is now active.",
        changed=True,
        data={"journey_id": row.id, "slug": row.slug, "version": row.version, "status": "active"},
    )
