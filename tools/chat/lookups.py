"""Finding customers and profiles by any id they are known under.

Uses cdp's identity graph and profile views when cdp/ is installed; otherwise reads the core
tables directly (the same rows cdp writes), so the chat tools work on either.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from core.domain import ProfileView
from core.tables import Customer, Identity, Profile
from tools.chat.env import ToolError, installed

__all__ = ["load_profile", "resolve_customer"]


def resolve_customer(session: Session, any_id: str) -> str:
    """The canonical customer id for `any_id` (canonical id, user id, email, ...), or ToolError."""
    wanted = any_id.strip().lstrip("#")
    if not wanted:
        raise ToolError("which customer? give an id or an email")
    if installed("cdp.identity"):
        from cdp.identity import resolve_customer_id

        found: Any = resolve_customer_id(session, wanted)
        if found:
            return str(found)
        raise ToolError(f"no customer is known as {wanted!r}")
    seen: set[str] = set()
    current: str | None = None
    customer = session.get(Customer, wanted)
    if customer is not None:
        current = customer.id
    else:
        identity = session.exec(select(Identity).where(Identity.value == wanted)).first()
        current = identity.customer_id if identity else None
    while current is not None and current not in seen:  # follow merges to the survivor
        seen.add(current)
        row = session.get(Customer, current)
        if row is None or row.merged_into is None:
            return current
        current = row.merged_into
    if current is None:
        raise ToolError(f"no customer is known as {wanted!r}")
    return current


def load_profile(session: Session, customer_id: str) -> ProfileView | None:
    """The unified profile of a canonical customer, or None when nothing is known yet."""
    if installed("cdp.profiles"):
        from cdp.profiles import get_profile_view

        view: ProfileView | None = get_profile_view(session, customer_id)
        return view
    row = session.get(Profile, customer_id)
    if row is None:
        return None
    identities: dict[str, list[str]] = {}
    for ident in session.exec(select(Identity).where(Identity.customer_id == customer_id)):
        identities.setdefault(ident.kind, []).append(ident.value)
    return ProfileView(
        customer_id=customer_id,
        traits=row.traits,
        computed=row.computed,
        consent=row.consent,
        timezone=row.timezone,
        locale=row.locale,
        identities=identities,
    )
