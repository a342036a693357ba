"""Finding customers and profiles by any id they are known under (cdp's identity graph)."""

from __future__ import annotations

from sqlmodel import Session

from cdp.identity import resolve_customer_id
from cdp.profiles import get_profile_view
from core.domain import ProfileView
from tools.chat.env import ToolError

__all__ = ["load_profile", "resolve_customer"]


def resolve_customer(session: Session, any_id: str) -> str:
    """The canonical customer id for `any_id` (canonical id, user id, email, ...), or ToolError."""
    wanted = any_id.strip().lstrip("#")
    if not wanted:
        raise ToolError("which customer? give an id or an email")
    found = resolve_customer_id(session, wanted)
    if found is None:
        raise ToolError(f"no customer is known as {wanted!r}")
    return found


def load_profile(session: Session, customer_id: str) -> ProfileView | None:
    """The unified profile of a customer (computed traits as of now), or None when unknown."""
    return get_profile_view(session, customer_id)
