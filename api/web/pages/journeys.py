"""Journeys: each one's status, run counts, YAML, a drawing of its graph, and pause/resume."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session, col, func, select

from api.deps import SessionDep
from api.web.journey_graph import parse_graph, render_svg
from api.web.session import UserDep
from api.web.templating import render
from core.tables import Control, Journey, JourneyRun, Review

router = APIRouter(prefix="/console/journeys", include_in_schema=False)


def latest_journeys(session: Session) -> list[Journey]:
    """The newest version of each journey slug."""
    rows = session.exec(select(Journey).order_by(col(Journey.slug), col(Journey.version))).all()
    latest: dict[str, Journey] = {}
    for row in rows:
        latest[row.slug] = row
    return list(latest.values())


def run_counts(session: Session) -> dict[str, dict[str, int]]:
    rows = session.exec(
        select(JourneyRun.journey_slug, JourneyRun.status, func.count())
        .group_by(col(JourneyRun.journey_slug), col(JourneyRun.status))
    ).all()  # fmt: skip
    out: dict[str, dict[str, int]] = {}
    for slug, status, count in rows:
        out.setdefault(slug, {})[status] = count
    return out


def paused_journeys(session: Session) -> set[str]:
    rows = session.exec(
        select(Control.target).where(Control.scope == "journey", Control.paused == True)  # noqa: E712
    ).all()
    return set(rows)


def _forbidden(request: Request, session: Session, user: Any) -> Response:
    return render(request, "forbidden.html", user=user, session=session, status_code=403,
                  what="look at journeys")  # fmt: skip


@router.get("")
def journeys(request: Request, session: SessionDep, user: UserDep) -> Response:
    if not user.may("journeys"):
        return _forbidden(request, session, user)
    return render(
        request,
        "journeys.html",
        user=user,
        session=session,
        journeys=latest_journeys(session),
        counts=run_counts(session),
        paused=paused_journeys(session),
    )


@router.get("/{slug}")
def journey(request: Request, session: SessionDep, user: UserDep, slug: str) -> Response:
    if not user.may("journeys"):
        return _forbidden(request, session, user)
    versions = session.exec(
        select(Journey).where(Journey.slug == slug).order_by(col(Journey.version).desc())
    ).all()
    if not versions:
        return render(request, "journeys.html", user=user, session=session, journeys=[],
                      counts={}, paused=set(), missing=slug, status_code=404)  # fmt: skip
    current = versions[0]
    graph = parse_graph(current.definition)
    runs = session.exec(
        select(JourneyRun).where(JourneyRun.journey_slug == slug)
        .order_by(col(JourneyRun.updated_at).desc()).limit(50)
    ).all()  # fmt: skip
    pending = session.exec(
        select(func.count()).select_from(Review)
        .where(Review.journey_slug == slug, Review.status == "pending")
    ).one()  # fmt: skip
    return render(
        request,
        "journey.html",
        user=user,
        session=session,
        journey=current,
        versions=versions,
        graph=graph,
        svg=render_svg(graph, f"Graph of journey {current.name}"),
        runs=runs,
        counts=run_counts(session).get(slug, {}),
        pending_reviews=pending,
        is_paused=slug in paused_journeys(session),
    )
