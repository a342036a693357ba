"""One person across customer ids, and one writer per customer at a time.

Shared by guardrails (frequency caps) and decisioning (cooldowns, offer budgets): both count
what already happened to a person and then add to it, so both need every id the person has
had (identity merges) and the check-then-insert serialised per customer.
"""

from __future__ import annotations

import zlib

from sqlalchemy import CompoundSelect, func, literal, or_, text
from sqlmodel import Session, col, select

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


def same_person(customer_id: str) -> CompoundSelect:
    """SQL for every customer id that is this person: the canonical one, those merged into
    it, and `customer_id` itself (which may have no customer row, e.g. an anonymous visitor).

    Rows written for a customer (outbox messages, decisions) keep the id they were written
    for; after an identity merge a count on one id alone would miss the others. Used as
    `col(...).in_(same_person(id))`, so it costs no extra round trip.
    (`merged_into` always points at the final survivor: cdp/identity.py keeps it flat.)
    """
    merged_into = select(Customer.merged_into).where(Customer.id == customer_id).scalar_subquery()
    canonical = func.coalesce(merged_into, customer_id)
    others = select(Customer.id).where(
        or_(col(Customer.id) == canonical, col(Customer.merged_into) == canonical)
    )
    return others.union(select(literal(customer_id)))
