"""The one-click unsubscribe link: GET asks, POST unsubscribes; forged tokens get 404."""

from __future__ import annotations

from unittest import mock

import sqlalchemy.orm
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from api.app import create_app
from cdp.pipeline import drain
from cdp.profiles import get_profile_view
from cdp.triggers import TriggerSet
from core.settings import Settings
from core.tables import AuditEntry
from tests.cdp.factories import identify, ingest
from tools.channels.email import unsubscribe_token
from tools.channels.registry import email_defaults


def test_one_click_unsubscribe(client: TestClient, sqlite_engine: Engine) -> None:
    ingest(sqlite_engine, identify("u1", 0, email="u1@example.com", email_opt_in=True))
    drain(sqlite_engine, rules=TriggerSet())
    secret = email_defaults(client.app.state.settings).unsubscribe_secret  # type: ignore[attr-defined]
    token = unsubscribe_token("u1", secret)

    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "Unsubscribe" in page.text
    with Session(sqlite_engine) as session:
        view = get_profile_view(session, "u1")
        assert view is not None and view.consent["email"]["status"] == "subscribed"

    done = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    with Session(sqlite_engine) as session:
        view = get_profile_view(session, "u1")
        assert view is not None and view.consent["email"]["status"] == "unsubscribed"


def test_forged_token_is_refused(client: TestClient) -> None:
    assert client.get("/u/dTE.0000000000000000deadbeef").status_code == 404
    assert client.post("/u/not-a-token").status_code == 404


def test_a_valid_link_for_an_unknown_address_still_succeeds(
    client: TestClient, sqlite_engine: Engine
) -> None:
    secret = email_defaults(client.app.state.settings).unsubscribe_secret  # type: ignore[attr-defined]
    token = unsubscribe_token("stranger@example.com", secret)
    assert client.post(f"/u/{token}").status_code == 200
    with Session(sqlite_engine) as session:
        kinds = [e.kind for e in session.exec(select(AuditEntry)).all()]
    assert "consent.opt_out_unmatched" in kinds


def test_a_commit_that_fails_is_never_answered_as_unsubscribed(
    settings: Settings, sqlite_engine: Engine
) -> None:
    """The request's transaction commits before the response: a lost commit is a 500 the
    mail client retries, not a 200 "Unsubscribed" while mail keeps coming."""
    ingest(sqlite_engine, identify("u1", 0, email="u1@example.com", email_opt_in=True))
    drain(sqlite_engine, rules=TriggerSet())
    token = unsubscribe_token("u1", email_defaults(settings).unsubscribe_secret)

    def lost(self: object) -> None:
        raise OperationalError("COMMIT", {}, Exception("connection lost"))

    app = create_app(settings, engine=sqlite_engine, run_migrations=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        with mock.patch.object(sqlalchemy.orm.Session, "commit", lost):
            answer = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 500 and "Unsubscribed" not in answer.text
        again = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    with Session(sqlite_engine) as session:
        view = get_profile_view(session, "u1")
        assert view is not None and view.consent["email"]["status"] == "unsubscribed"
