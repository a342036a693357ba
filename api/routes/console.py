"""The web console's HTML routes (outside /v1), gathered from api/web/pages/."""

from __future__ import annotations

from fastapi import APIRouter

from api.web.pages import (
    audit,
    base,
    chat,
    customers,
    dashboard,
    journeys,
    outbox,
    reviews,
)

router = APIRouter(include_in_schema=False)
for _module in (base, reviews, customers, journeys, outbox, audit, dashboard, chat):
    router.include_router(_module.router)
