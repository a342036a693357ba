"""Journeys: the version that runs, proposals beside it (diff, accept), holdout, pause/resume."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, func, select

from agents.journey.spec import JourneySpecError
from api.deps import SessionDep, SettingsDep
from api.web import journey_service
from api.web.journey_graph import parse_graph, render_svg
from api.web.review_service import ServiceMissing
from api.web.session import ConsoleUser, FormUserDep, UserDep
from api.web.templating import render
from core.tables import Control, Journey, JourneyRun, Review

router = APIRouter(prefix="/console/journeys", include_in_schema=False)

# The statuses a journey runs under; the newest such version is the one that runs
# (agents.journey.store.load_spec). "proposed" versions wait for a marketer to accept them.
RUNNABLE = ("active", "paused")
PROPOSED = "proposed"


@dataclass
class JourneyVersions:
    """One slug: the version that runs (None before any is accepted) and newer proposals."""

    slug: str
    current: Journey | None
    proposals: list[Journey] = field(default_factory=list)  # newest first
    count: int = 0

    @property
    def shown(self) -> Journey:
        """The row that names the journey: the running version, else the newest proposal."""
        if self.current is not None:
            return self.current
        return self.proposals[0]


def group_versions(rows: list[Journey]) -> list[JourneyVersions]:
    """Per slug, the newest runnable version and the proposals newer than it.

    A proposal older than the running version is left out: accepting it would change nothing
    (the newest runnable version runs), so it is not offered.
    """
    by_slug: dict[str, list[Journey]] = {}
    for row in sorted(rows, key=lambda r: (r.slug, -r.version)):
        by_slug.setdefault(row.slug, []).append(row)
    out = []
    for slug, versions in by_slug.items():
        current = next((v for v in versions if v.status in RUNNABLE), None)
        floor = current.version if current is not None else 0
        proposals = [v for v in versions if v.status == PROPOSED and v.version > floor]
        if current is None and not proposals:
            continue
        out.append(JourneyVersions(slug, current, proposals, len(versions)))
    return out


def journey_versions(session: Session, slug: str | None = None) -> list[JourneyVersions]:
    query = select(Journey)
    if slug is not None:
        query = query.where(Journey.slug == slug)
    return group_versions(list(session.exec(query)))


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "head", "hunk", "add", "del" or "same"
    text: str


def version_diff(current: Journey | None, proposal: Journey) -> list[DiffLine]:
    """The proposal against the running version, as a unified diff (all added when new)."""
    before = current.definition.splitlines() if current is not None else []
    lines = difflib.unified_diff(
        before,
        proposal.definition.splitlines(),
        f"v{current.version} ({current.status})" if current is not None else "(nothing yet)",
        f"v{proposal.version} (proposed)",
        lineterm="",
    )
    out = []
    for line in lines:
        if line.startswith(("---", "+++")):
            kind = "head"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = {"+": "add", "-": "del"}.get(line[:1], "same")
        out.append(DiffLine(kind, line))
    return out


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


def _forbidden(
    request: Request, session: Session, user: ConsoleUser, what: str = "look at journeys"
) -> Response:
    return render(request, "forbidden.html", user=user, session=session, status_code=403,
                  what=what)  # fmt: skip


def _list_page(
    request: Request,
    session: Session,
    user: ConsoleUser,
    *,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "journeys.html",
        user=user,
        session=session,
        status_code=status_code,
        journeys=journey_versions(session),
        counts=run_counts(session),
        paused=paused_journeys(session),
        problem=problem,
    )


@router.get("")
def journeys(request: Request, session: SessionDep, user: UserDep) -> Response:
    if not user.may("journeys"):
        return _forbidden(request, session, user)
    return _list_page(request, session, user)


def _holdout(session: Session, slug: str) -> tuple[Any, str | None]:
    try:
        return journey_service.holdout_view(session, slug), None
    except (ServiceMissing, JourneySpecError) as exc:  # a stored version that no longer validates
        return None, f"The holdout comparison is unavailable: {exc}"


DONE_MESSAGES = {"accepted": "Accepted: this version is now the one that runs."}


@router.get("/{slug}")
def journey(
    request: Request, session: SessionDep, user: UserDep, slug: str, done: str | None = None
) -> Response:
    if not user.may("journeys"):
        return _forbidden(request, session, user)
    found = journey_versions(session, slug)
    if not found:
        return _list_page(request, session, user, problem=f"No journey called “{slug}”.",
                          status_code=404)  # fmt: skip
    versions = found[0]
    shown = versions.shown
    graph = parse_graph(shown.definition)
    runs = session.exec(
        select(JourneyRun).where(JourneyRun.journey_slug == slug)
        .order_by(col(JourneyRun.updated_at).desc()).limit(50)
    ).all()  # fmt: skip
    pending = session.exec(
        select(func.count()).select_from(Review)
        .where(Review.journey_slug == slug, Review.status == "pending")
    ).one()  # fmt: skip
    holdout, holdout_error = _holdout(session, slug)
    return render(
        request,
        "journey.html",
        user=user,
        session=session,
        versions=versions,
        journey=shown,
        diffs={p.id: version_diff(versions.current, p) for p in versions.proposals},
        graph=graph,
        svg=render_svg(graph, f"Graph of journey {shown.name} v{shown.version}"),
        runs=runs,
        counts=run_counts(session).get(slug, {}),
        pending_reviews=pending,
        is_paused=slug in paused_journeys(session),
        holdout=holdout,
        holdout_error=holdout_error,
        done=DONE_MESSAGES.get(done or ""),
    )


def _proposal(session: Session, slug: str, proposal_id: str) -> tuple[JourneyVersions, Journey]:
    """The slug's versions and the proposal to accept; LookupError when it is not on offer."""
    found = journey_versions(session, slug)
    if found:
        for proposal in found[0].proposals:
            if proposal.id == proposal_id:
                return found[0], proposal
    row = session.get(Journey, proposal_id)
    if row is None or row.slug != slug:
        raise LookupError(f"No proposed version {proposal_id} of journey “{slug}”.")
    raise LookupError(
        f"Version {row.version} of “{slug}” is {row.status}, not a proposal newer than the "
        "version that runs; there is nothing to accept."
    )


def _confirm_page(
    request: Request,
    session: Session,
    user: ConsoleUser,
    versions: JourneyVersions,
    proposal: Journey,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "journey_accept.html",
        user=user,
        session=session,
        status_code=status_code,
        versions=versions,
        proposal=proposal,
        diff=version_diff(versions.current, proposal),
        is_paused=versions.slug in paused_journeys(session),
        error=error,
    )


@router.get("/{slug}/proposals/{proposal_id}/accept")
def confirm_accept(
    request: Request, session: SessionDep, user: UserDep, slug: str, proposal_id: str
) -> Response:
    """Ask before accepting: what changes, and that customers will follow it from now on."""
    if not user.may("journeys"):
        return _forbidden(request, session, user, "accept journey proposals")
    try:
        versions, proposal = _proposal(session, slug, proposal_id)
    except LookupError as exc:
        return _list_page(request, session, user, problem=str(exc), status_code=404)
    return _confirm_page(request, session, user, versions, proposal)


@router.post("/{slug}/proposals/{proposal_id}/accept")
def accept(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: FormUserDep,
    slug: str,
    proposal_id: str,
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Accept after confirming, through the chat agent's own accept_journey (audited)."""
    if not user.may("journeys"):
        return _forbidden(request, session, user, "accept journey proposals")
    confirm_url = f"/console/journeys/{slug}/proposals/{proposal_id}/accept"
    if confirm != "yes":  # only the confirmation page sends it
        return RedirectResponse(confirm_url, status_code=303)
    try:
        versions, proposal = _proposal(session, slug, proposal_id)
    except LookupError as exc:
        return _list_page(request, session, user, problem=str(exc), status_code=409)
    try:
        journey_service.accept_proposal(
            session, proposal.id, actor=user.actor, role=user.role, settings=settings
        )
    except (journey_service.AcceptRefused, ServiceMissing) as exc:
        session.rollback()  # nothing half-written
        status = 503 if isinstance(exc, ServiceMissing) else 422
        return _confirm_page(
            request, session, user, versions, proposal, error=str(exc), status_code=status
        )
    return RedirectResponse(f"/console/journeys/{slug}?done=accepted", status_code=303)
