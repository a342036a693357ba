"""The dashboard: what the orchestrator did, drawn with plotly.js, refreshed in place."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep
from api.web import charts, insights
from api.web.session import UserDep
from api.web.templating import render

router = APIRouter(prefix="/console/dashboard", include_in_schema=False)


@router.get("")
def dashboard(request: Request, session: SessionDep, user: UserDep) -> Response:
    if not user.may("dashboard"):
        return render(request, "forbidden.html", user=user, session=session, status_code=403,
                      what="see the dashboard")  # fmt: skip
    data = insights.collect(session)
    return render(request, "dashboard.html", user=user, session=session, data=data,
                  figures=charts.figures(data))  # fmt: skip


@router.get("/charts")
def charts_fragment(request: Request, session: SessionDep, user: UserDep) -> Response:
    if not user.may("dashboard"):
        return HTMLResponse("", status_code=403)
    data = insights.collect(session)
    return render(request, "_charts.html", user=user, data=data, figures=charts.figures(data))
