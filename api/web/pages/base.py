"""Sign-in, sign-out, the start page, static assets and the kill switch."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.deps import EngineDep, SessionDep
from api.web.session import (
    COOKIE,
    PAGES,
    FormUserDep,
    UserDep,
    optional_user,
    resolve_key,
)
from api.web.templating import render
from core.controls import journey_exists, set_paused
from core.domain import CHANNELS
from core.keys import Role

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_STATIC_FILES = {
    "console.css": "text/css",
    "console.js": "text/javascript",
    "chat.js": "text/javascript",
}


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the installed `plotly` package (not copied here)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise HTTPException(status_code=404, detail="plotly is not installed")
    return Path(spec.origin).parent / "package_data" / "plotly.min.js"


@router.get("/console/static/{name}")
def static(name: str) -> Response:
    """Console assets, served from the package so the console works with no internet."""
    if name == "plotly.min.js":
        return FileResponse(
            plotly_js_path(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )
    if name not in _STATIC_FILES:
        raise HTTPException(status_code=404, detail=f"no static file {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=_STATIC_FILES[name])


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=303)


@router.get("/console")
@router.get("/console/")
def home(request: Request, engine: EngineDep) -> Response:
    """Send each role to its work: reviewers to the queue, the others to their first page."""
    user = optional_user(request, engine)
    if user is None:
        return RedirectResponse("/console/login", status_code=303)
    if user.role is Role.reviewer:
        return RedirectResponse("/console/reviews", status_code=303)
    for ability, href, _ in PAGES:
        if user.may(ability):
            return RedirectResponse(href, status_code=303)
    return render(request, "no_pages.html", user=user, status_code=403)


@router.get("/console/login")
def login_form(request: Request) -> HTMLResponse:
    """The sign-in form; messages come only from this app (a ?error= text could be anyone's)."""
    return render(request, "login.html", user=None, error=None)


@router.post("/console/login")
def login(request: Request, engine: EngineDep, key: Annotated[str, Form()] = "") -> Response:
    """Check the key, then keep it in an HttpOnly, SameSite=Strict cookie."""
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        return render(request, "login.html", user=None, error="Cross-site sign-in refused.",
                      status_code=403)  # fmt: skip
    key = key.strip()
    if not key or resolve_key(request, engine, key) is None:
        message = "Enter an API key." if not key else "That API key is unknown or revoked."
        return render(request, "login.html", user=None, error=message, status_code=401)
    response = RedirectResponse("/console/", status_code=303)
    response.set_cookie(
        COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
        max_age=12 * 3600,
    )
    return response


@router.post("/console/logout")
def logout(_: FormUserDep) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _safe_next(value: str) -> str:
    """Only return to console pages (no open redirect)."""
    return value if value.startswith("/console/") and "//" not in value else "/console/"


def _control_target(scope: str, target: str) -> tuple[str, str]:
    if scope not in ("all", "channel", "journey"):
        raise HTTPException(
            status_code=422, detail=f"scope: must be all, channel or journey, not {scope!r}"
        )
    if scope == "channel" and target not in CHANNELS:
        raise HTTPException(status_code=422, detail=f"target: unknown channel {target!r}")
    if scope == "journey" and not target.strip():
        raise HTTPException(status_code=422, detail="target: name the journey to pause")
    return scope, target.strip()


def _forbid_controls(request: Request, user: UserDep, session: SessionDep) -> Response | None:
    if user.may("controls"):
        return None
    return render(
        request,
        "forbidden.html",
        user=user,
        session=session,
        status_code=403,
        what="pause or resume sending",
    )


@router.post("/console/controls/pause")
def pause(
    request: Request,
    session: SessionDep,
    user: FormUserDep,
    what: Annotated[str, Form()] = "all:*",
    reason: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/console/",
) -> Response:
    """Kill switch from any page: pause everything, a channel or a journey (audited)."""
    refused = _forbid_controls(request, user, session)
    if refused is not None:
        return refused
    scope, _, target = what.partition(":")
    scope, target = _control_target(scope, target or "*")
    if scope == "journey" and not journey_exists(session, target):
        raise HTTPException(status_code=422, detail=f"target: no journey with slug {target!r}")
    set_paused(
        session,
        scope=scope,  # type: ignore[arg-type]  # checked by _control_target
        target=target,
        paused=True,
        actor=user.actor,
        reason=reason.strip() or "paused from the console",
    )
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/console/controls/resume")
def resume(
    request: Request,
    session: SessionDep,
    user: FormUserDep,
    scope: Annotated[str, Form()] = "all",
    target: Annotated[str, Form()] = "*",
    next: Annotated[str, Form()] = "/console/",
) -> Response:
    refused = _forbid_controls(request, user, session)
    if refused is not None:
        return refused
    scope, target = _control_target(scope, target)
    set_paused(
        session,
        scope=scope,  # type: ignore[arg-type]
        target=target,
        paused=False,
        actor=user.actor,
        reason="resumed from the console",
    )
    return RedirectResponse(_safe_next(next), status_code=303)
