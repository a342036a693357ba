"""One person across customer ids, and one writer per customer at a time.

Shared by guardrails (frequency caps) and decisioning (cooldowns, offer budgets): both count
what already happened to a person and then add to it, so both need every id the person has
had (identity merges) and the check-then-insert serialised per customer.
"""

from __future__ import annotations

import zlib

from sqlalchemy import text
from sqlmodel import Session, select

from core.tables import Customer

__all__ = ["lock_customer", "same_person"]


def lock_customer(session: Session, customer_id: str) -> None:
    """Serialise check-then-insert for one customer until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock on a hash of the id. SQLite: every write
    transaction already holds the database's single write lock (BEGIN IMMEDIATE), so nothing
    more is needed.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"cjo-customer:{customer_id}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    else:
        # Make sure the transaction (and with it the write lock) has begun.
        session.execute(text("SELECT 1"))


def same_person(session: Session, customer_id: str) -> list[str]:
    """Every customer id that is this person: the canonical one and those merged into it.

    Rows written for a customer (outbox messages, decisions) keep the id they were written
    for; after an identity merge a count on one id alone would miss the others.
    (`merged_into` always points at the final survivor: cdp/identity.py keeps it flat.)
    """
    row = session.get(Customer, customer_id)
    canonical = row.merged_into if row is not None and row.merged_into else customer_id
    merged = session.exec(select(Customer.id).where(Customer.merged_into == canonical)).all()
    return sorted({canonical, *merged})
