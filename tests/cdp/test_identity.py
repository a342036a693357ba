"""Identity resolution: merges (audited) and the one-userId conflict rule."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cdp.identity import resolve_customer_id
from cdp.pipeline import drain
from cdp.profiles import get_profile_view
from cdp.triggers import TriggerSet
from core.audit import verify_chain
from core.tables import AuditEntry, Customer
from tests.cdp.factories import identify, ingest, order, track

NO_RULES = TriggerSet()


def test_anonymous_activity_merges_into_the_identified_customer(engine: Engine) -> None:
    anon_add = track("Product Added", None, 1, price=3.0)  # after the order: stays open
    anon_add["anonymousId"] = "anon-1"
    ingest(engine, order("u9", 0, 7.0), anon_add)
    drain(engine, rules=NO_RULES)
    ingest(engine, identify("u9", 5, anon="anon-1", email="x@example.com"))
    drain(engine, rules=NO_RULES)
    with Session(engine) as session:
        survivor = resolve_customer_id(session, "u9")
        assert resolve_customer_id(session, "anon-1") == survivor
        view = get_profile_view(session, "anon-1")
        assert view is not None and view.customer_id == survivor
        assert view.computed["order_count"] == 1
        assert view.computed["open_cart"]["items"] == 1
        merges = session.exec(select(AuditEntry).where(AuditEntry.kind == "identity.merged")).all()
        assert len(merges) == 1 and merges[0].payload["into"] == survivor
        loser = session.get(Customer, merges[0].payload["merged"])
        assert loser is not None and loser.merged_into == survivor
        assert verify_chain(session).ok


def test_two_user_ids_claiming_one_email_do_not_merge(engine: Engine) -> None:
    ingest(engine, identify("alice", 0, email="shared@example.com"))
    ingest(engine, identify("bob", 1, email="Shared@Example.com"))
    drain(engine, rules=NO_RULES)
    with Session(engine) as session:
        alice = resolve_customer_id(session, "alice")
        bob = resolve_customer_id(session, "bob")
        assert alice and bob and alice != bob
        assert resolve_customer_id(session, "shared@example.com") == alice
        conflicts = session.exec(
            select(AuditEntry).where(AuditEntry.kind == "identity.conflict")
        ).all()
        assert len(conflicts) == 1
        assert conflicts[0].payload["kept_by"] == alice
        view = get_profile_view(session, "bob")
        assert view is not None and view.email == "shared@example.com"  # kept, not lost


def test_alias_merges_explicitly(sqlite_engine: Engine) -> None:
    ingest(sqlite_engine, order("old-id", 0, 4.0), order("new-id", 1, 6.0))
    ingest(
        sqlite_engine,
        {"type": "alias", "previousId": "old-id", "userId": "new-id", "messageId": "al1"},
    )
    drain(sqlite_engine, rules=NO_RULES)
    with Session(sqlite_engine) as session:
        assert resolve_customer_id(session, "old-id") == resolve_customer_id(session, "new-id")
        view = get_profile_view(session, "old-id")
        assert view is not None and view.computed["order_value"] == 10.0
