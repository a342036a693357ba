"""Liveness, readiness and Prometheus metrics (no auth: for load balancers and scrapers)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlmodel import Session

from api.deps import EngineDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready")
def ready(engine: EngineDep) -> Response:
    """The process can serve: the database answers."""
    try:
        with Session(engine) as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means not ready
        return JSONResponse(
            status_code=503, content={"status": "unavailable", "database": str(exc)}
        )
    return JSONResponse(content={"status": "ready", "database": "ok"})


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition of every cjo metric."""
    return Response(content=generate_latest(), media_type=CONTENT_TYPE_LATEST)
