"""Ad audiences: add or remove customers from named audiences; export hashed identifiers.

The export is the customer-match format ad platforms take: SHA-256 hex of the normalised email
(trimmed, lower-case) and of the phone number in E.164. Customers who opted out of ads (consent
`ads` or `audience` unsubscribed) are never added and are left out of every export.
Payload: {"audience", "op": "add"|"remove", "email"?, "phone"?}.
"""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

import phonenumbers
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.clock import utcnow
from core.db import session_scope
from core.tables import Profile
from tools.channels.base import Delivery, PermanentSendError, SendResult, require_text
from tools.tables import AudienceMember

__all__ = [
    "AudienceChannel",
    "export_audience",
    "export_csv",
    "hash_email",
    "hash_phone",
    "is_opted_out",
]

_OPT_OUT_KEYS = ("ads", "audience")


def hash_email(email: str) -> str:
    """SHA-256 hex of the email trimmed and lower-cased."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def hash_phone(phone: str, region: str = "US") -> str | None:
    """SHA-256 hex of the E.164 form, or None if it is not a phone number."""
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return hashlib.sha256(e164.encode()).hexdigest()


def is_opted_out(profile: Profile | None) -> bool:
    """True when the customer said no to ads (consent `ads` or `audience` unsubscribed) or to
    everything (consent `all`/`global` unsubscribed): a global unsubscribe leaves every
    audience export too."""
    if profile is None:
        return False
    for key in (*_OPT_OUT_KEYS, "all", "global"):
        entry = profile.consent.get(key) or {}
        if isinstance(entry, dict) and entry.get("status") == "unsubscribed":
            return True
    return bool(profile.traits.get("ads_opt_out"))


class AudienceChannel:
    """Applies add/remove operations to `audience_members` (idempotent by nature)."""

    name = "audience"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def send(self, delivery: Delivery) -> SendResult:
        payload = delivery.payload
        audience = require_text(payload, "audience", "audience")
        op = payload.get("op")
        if op not in {"add", "remove"}:
            raise PermanentSendError(f"payload.op: must be 'add' or 'remove', got {op!r}")
        if not delivery.customer_id:
            raise PermanentSendError("customer_id: audience operations need a customer")
        with session_scope(self.engine) as session:
            if op == "add" and is_opted_out(session.get(Profile, delivery.customer_id)):
                raise PermanentSendError("opted_out: the customer opted out of ad audiences")
            row = session.exec(
                select(AudienceMember).where(
                    AudienceMember.audience == audience,
                    AudienceMember.customer_id == delivery.customer_id,
                )
            ).first()
            if row is None:
                row = AudienceMember(audience=audience, customer_id=delivery.customer_id)
            if op == "add":
                email, phone = payload.get("email"), payload.get("phone")
                row.email_sha256 = hash_email(email) if email else row.email_sha256
                row.phone_sha256 = hash_phone(phone) if phone else row.phone_sha256
                if row.email_sha256 is None and row.phone_sha256 is None:
                    raise PermanentSendError("payload.email: give an email or a phone to match")
            row.active = op == "add"
            row.updated_at = utcnow()
            row.last_key = delivery.key
            session.add(row)
        return SendResult(f"{audience}:{delivery.customer_id}", {"op": op})


def export_audience(session: Session, audience: str) -> list[dict[str, Any]]:
    """Active members not opted out: [{"customer_id", "email_sha256", "phone_sha256"}]."""
    rows = session.exec(
        select(AudienceMember, Profile)
        .join(Profile, col(Profile.customer_id) == col(AudienceMember.customer_id), isouter=True)
        .where(AudienceMember.audience == audience, AudienceMember.active == True)  # noqa: E712
        .order_by(col(AudienceMember.customer_id))
    ).all()
    return [
        {
            "customer_id": member.customer_id,
            "email_sha256": member.email_sha256,
            "phone_sha256": member.phone_sha256,
        }
        for member, profile in rows
        if not is_opted_out(profile)
    ]


def export_csv(session: Session, audience: str) -> str:
    """The customer-match upload file: columns `Email`, `Phone` (hashed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Email", "Phone"])
    for member in export_audience(session, audience):
        writer.writerow([member["email_sha256"] or "", member["phone_sha256"] or ""])
    return buffer.getvalue()
