"""Chat tools: the kill switch. Pause or resume everything, one channel, or one journey."""

from __future__ import annotations

from typing import Literal

from core import controls
from core.domain import CHANNELS
from tools.chat.env import ToolEnv, ToolError, ToolResult

__all__ = ["pause", "resume", "show_pauses"]

Scope = Literal["all", "channel", "journey"]


def _target(env: ToolEnv, scope: Scope, target: str | None) -> str:
    if scope == "all":
        return "*"
    if not target:
        raise ToolError(f"which {scope}? name the {scope} to act on")
    target = target.strip().lower()
    if scope == "channel" and target not in CHANNELS:
        raise ToolError(f"unknown channel {target!r}; one of {', '.join(CHANNELS)}")
    if scope == "journey" and not controls.journey_exists(env.session, target):
        raise ToolError(f"no journey is called {target!r}")
    return target


def _label(scope: Scope, target: str) -> str:
    return "all sending" if scope == "all" else f"{scope} {target}"


def pause(
    env: ToolEnv, scope: Scope, target: str | None = None, reason: str | None = None
) -> ToolResult:
    """Pause sending: scope "all" (everything; asks for confirmation first), "channel" with a
    channel name (email, sms, push, webhook, audience, csm, web), or "journey" with its slug.
    Paused work is held, never dropped, and picked up again on resume."""
    name = _target(env, scope, target)
    controls.set_paused(
        env.session,
        scope=scope,
        target=name,
        paused=True,
        actor=env.actor,
        reason=reason or f"chat {env.conversation_id}",
    )
    return ToolResult(
        summary=f"Paused {_label(scope, name)}. Held messages wait for a resume.",
        data={"scope": scope, "target": name, "paused": True},
        changed=True,
    )


def resume(env: ToolEnv, scope: Scope, target: str | None = None) -> ToolResult:
    """Resume sending for scope "all", a "channel" or a "journey" that was paused."""
    name = _target(env, scope, target)
    controls.set_paused(
        env.session,
        scope=scope,
        target=name,
        paused=False,
        actor=env.actor,
        reason=f"chat {env.conversation_id}",
    )
    return ToolResult(
        summary=f"Resumed {_label(scope, name)}.",
        data={"scope": scope, "target": name, "paused": False},
        changed=True,
    )


def show_pauses(env: ToolEnv) -> ToolResult:
    """Show what is paused right now (all, channels, journeys) and why."""
    active = controls.active_pauses(env.session)
    if not active:
        return ToolResult(summary="Nothing is paused.", data={"paused": []})
    rows = [
        {"scope": c.scope, "target": c.target, "reason": c.reason, "by": c.updated_by}
        for c in active
    ]
    lines = [
        f"- {c.scope if c.scope == 'all' else c.scope + ' ' + c.target} "
        f"(by {c.updated_by}: {c.reason or 'no reason'})"
        for c in active
    ]
    return ToolResult(summary="Paused:\n" + "\n".join(lines), data={"paused": rows})
