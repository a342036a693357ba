"""The kill switch: pause everything, one channel, or one journey; resume later.

State lives in the `controls` table so every process (API, workers, dispatcher) sees a pause on
its next check. Callers hold paused work (never drop it) and pick it up again on resume.
"""

from __future__ import annotations

from typing import Literal

from sqlmodel import Session, select

from core import audit
from core.clock import utcnow
from core.tables import Control, Journey

__all__ = ["Scope", "active_pauses", "is_paused", "journey_exists", "set_paused"]

Scope = Literal["all", "channel", "journey"]


def journey_exists(session: Session, slug: str) -> bool:
    """Whether any version of journey `slug` is stored: what a person pausing it means.

    The entry points people use (API, console, chat) refuse a pause of an unknown slug, which
    would pause nothing; `set_paused` itself stays usable for any scope and target.
    """
    return session.exec(select(Journey.id).where(Journey.slug == slug)).first() is not None


def set_paused(
    session: Session,
    *,
    scope: Scope,
    target: str = "*",
    paused: bool,
    actor: str,
    reason: str | None = None,
) -> Control:
    """Pause or resume `scope`/`target` (target is `*` for scope `all`), audited."""
    target = "*" if scope == "all" else target
    row = session.exec(
        select(Control).where(Control.scope == scope, Control.target == target)
    ).first()
    if row is None:
        row = Control(scope=scope, target=target)
    row.paused = paused
    row.reason = reason
    row.updated_by = actor
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor,
        kind="control.paused" if paused else "control.resumed",
        subject_type="control",
        subject_id=f"{scope}:{target}",
        payload={"scope": scope, "target": target, "reason": reason},
    )
    return row


def active_pauses(session: Session) -> list[Control]:
    return list(session.exec(select(Control).where(Control.paused == True)).all())  # noqa: E712


def is_paused(
    session: Session, *, channel: str | None = None, journey_slug: str | None = None
) -> bool:
    """True when everything, this channel, or this journey is paused."""
    for control in active_pauses(session):
        if control.scope == "all":
            return True
        if control.scope == "channel" and channel is not None and control.target == channel:
            return True
        if (
            control.scope == "journey"
            and journey_slug is not None
            and control.target == journey_slug
        ):
            return True
    return False
