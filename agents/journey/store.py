"""Journey definitions in the database: save a validated YAML version, load, pause, resume."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, col, select

from agents.journey.spec import JourneySpec, load_journey_yaml
from core import audit
from core.tables import Journey

__all__ = ["load_spec", "save_journey", "save_journeys_in", "set_status"]

RUNNABLE = ("active", "paused")


def save_journey(session: Session, text: str, *, actor: str, status: str = "active") -> Journey:
    """Validate and store one version; the same (slug, version) with the same text is a no-op."""
    spec = load_journey_yaml(text)
    row = session.exec(
        select(Journey).where(Journey.slug == spec.slug, Journey.version == spec.version)
    ).first()
    if row is not None:
        if row.definition != text:
            raise ValueError(
                f"journey {spec.slug} version {spec.version} exists with other content; "
                "bump `version` to change it"
            )
        return row
    row = Journey(
        slug=spec.slug,
        version=spec.version,
        name=spec.name,
        definition=text,
        status=status,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor,
        kind="journey.saved",
        subject_type="journey",
        subject_id=row.id,
        journey_id=spec.slug,
        payload={
            "version": spec.version,
            "status": status,
            "definition_digest": audit.digest(text),
        },
    )
    return row


def load_spec(session: Session, slug: str, *, version: int | None = None) -> JourneySpec | None:
    """A runnable version: the newest active/paused one, or exactly `version`."""
    query = select(Journey).where(Journey.slug == slug)
    if version is not None:
        query = query.where(Journey.version == version)
    else:
        query = query.where(col(Journey.status).in_(RUNNABLE))
    row = session.exec(query.order_by(col(Journey.version).desc())).first()
    return load_journey_yaml(row.definition) if row is not None else None


def set_status(session: Session, slug: str, status: str, *, actor: str) -> int:
    """Pause or re-activate every runnable version of a journey (runs hold while paused)."""
    if status not in RUNNABLE:
        raise ValueError(f"status must be one of {', '.join(RUNNABLE)}, not {status!r}")
    rows = session.exec(
        select(Journey).where(Journey.slug == slug, col(Journey.status).in_(RUNNABLE))
    ).all()
    for row in rows:
        row.status = status
        session.add(row)
    audit.append(
        session,
        actor=actor,
        kind=f"journey.{status}",
        subject_type="journey",
        journey_id=slug,
        payload={"versions": [r.version for r in rows]},
    )
    return len(rows)


def save_journeys_in(session: Session, directory: Path, *, actor: str) -> list[Journey]:
    """Store every `*.yaml` journey of a folder (the demo loads examples/journeys this way)."""
    return [
        save_journey(session, path.read_text(), actor=actor)
        for path in sorted(directory.glob("*.yaml"))
    ]
