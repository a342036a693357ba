"""One-click unsubscribe (RFC 8058): the link and List-Unsubscribe header of every email.

GET shows a confirmation page (mail scanners follow links, so GET never unsubscribes);
POST, from the page or from a mail client's one-click button, records the opt-out.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.errors import ApiError
from cdp.consent import apply_opt_out
from cdp.identity import resolve_customer_id
from core import audit
from tools.channels.email import read_unsubscribe_token
from tools.channels.registry import email_defaults

router = APIRouter(tags=["unsubscribe"], include_in_schema=False)

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title}</title></head><body><main><h1>{title}</h1><p>{text}</p>{form}</main></body></html>"""


def _customer(token: str, request: Request, session: SessionDep) -> str:
    secret = email_defaults(request.app.state.settings).unsubscribe_secret
    who = read_unsubscribe_token(token, secret)
    if who is None:
        raise ApiError(404, "this unsubscribe link is not valid")
    return resolve_customer_id(session, who) or who


@router.get("/u/{token}", response_class=HTMLResponse)
def confirm(token: str, request: Request, session: SessionDep, _: SettingsDep) -> str:
    _customer(token, request, session)
    form = (
        f'<form method="post" action="/u/{escape(token)}">'
        '<button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button>'
        "</form>"
    )
    return _PAGE.format(
        title="Unsubscribe", text="Stop marketing emails to this address?", form=form
    )


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe(token: str, request: Request, session: SessionDep) -> str:
    customer_id = _customer(token, request, session)
    try:
        apply_opt_out(session, customer_id, "email", "one-click unsubscribe link")
    except LookupError:
        # A signed link for an address cjo holds no profile for (a message sent without a
        # customer id): never fail a one-click POST; record the request for follow-up instead.
        audit.append(
            session,
            actor="system:unsubscribe",
            kind="consent.opt_out_unmatched",
            subject_type="email",
            subject_id=customer_id,
            payload={"channel": "email", "reason": "one-click unsubscribe link"},
        )
    return _PAGE.format(
        title="Unsubscribed", text="You will get no more marketing emails.", form=""
    )
