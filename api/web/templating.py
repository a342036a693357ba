"""Jinja2 rendering for the console: one environment, autoescaped, strict about missing names."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlmodel import Session, select

from api.web.email_preview import email_preview, html_document
from api.web.session import PAGES, ConsoleUser
from core.clock import as_utc, utcnow
from core.controls import active_pauses
from core.domain import CHANNELS
from core.tables import Journey

__all__ = ["TEMPLATES_DIR", "render"]

TEMPLATES_DIR = Path(__file__).parent / "templates"


def _when(value: datetime | None) -> str:
    if value is None:
        return "\u2013"
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(value: datetime | None) -> str:
    if value is None:
        return "\u2013"
    seconds = int((utcnow() - as_utc(value)).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def _iso(value: datetime | None) -> str:
    return as_utc(value).isoformat() if value is not None else ""


def _to_json(value: Any) -> Markup:
    """JSON safe to put inside <script type=application/json> (no closing tags)."""
    text = json.dumps(value, default=str).replace("</", "<\\/")
    return Markup(text)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    when=_when,
    ago=_ago,
    iso=_iso,
    tojson_script=_to_json,
    pretty=_pretty,
    srcdoc_html=html_document,
)
_env.globals.update(email_preview=email_preview)


def render(
    request: Request,
    name: str,
    *,
    user: ConsoleUser | None,
    session: Session | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page (or a fragment) with what every page needs: nav, kill switch, token."""
    pauses = active_pauses(session) if session is not None and user is not None else []
    slugs: list[str] = []
    if session is not None and user is not None and user.may("controls"):
        slugs = sorted(set(session.exec(select(Journey.slug)).all()))
    page = _env.get_template(name).render(
        request=request,
        user=user,
        nav=[(path, label) for ability, path, label in PAGES if user and user.may(ability)],
        pauses=pauses,
        journey_slugs=slugs,
        channels=CHANNELS,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(page, status_code=status_code)
