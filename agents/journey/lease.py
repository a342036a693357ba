"""Which runner holds a run: a token set when a runner claims it, renewed by every node.

A runner that thinks a run dead (`running`, not renewed for `stale_after`) may take it over
with a new token. The first runner, if it was only slow, then finds its token gone at its
next node and stops there (LeaseLost) before any effect: its node's transaction, the
outbox row included, rolls back. Only one runner can be past that check at a time.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from langgraph.config import get_config
from sqlalchemy import Update, update
from sqlmodel import Session, col

from core.tables import JourneyRun

__all__ = ["LeaseLost", "current_lease", "held", "new_lease", "renew"]


class LeaseLost(Exception):
    """Another runner took this run over; this one must stop without an effect."""


def new_lease() -> str:
    return uuid.uuid4().hex


def current_lease() -> str | None:
    """The lease this graph invocation runs under (`configurable.lease`), if any.

    None outside a graph invocation (the benchmark calls nodes directly) or when the caller
    gave none; then `renew` only refreshes the heartbeat.
    """
    try:
        config = get_config()
    except RuntimeError:
        return None
    lease = (config.get("configurable") or {}).get("lease")
    return str(lease) if lease else None


def held(run_id: str, lease: str | None) -> Update:
    """An UPDATE of the run that changes nothing unless `lease` (when given) is still its own."""
    query = update(JourneyRun).where(col(JourneyRun.id) == run_id)
    return query if lease is None else query.where(col(JourneyRun.lease) == lease)


def renew(session: Session, run_id: str, now: datetime) -> None:
    """Refresh the run's `updated_at` in the caller's transaction, if the lease is still ours."""
    lease = current_lease()
    done = session.execute(held(run_id, lease).values(updated_at=now))
    if lease is not None and done.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"run {run_id} was taken over by another runner")
