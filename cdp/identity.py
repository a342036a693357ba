"""Deterministic identity graph: userId, anonymousId, email (normalised), phone (E.164).

Rules (docs/cdp.md says why):
- Identities named in one message belong to one customer; when they point at different
  customers, those customers merge into one survivor (the one holding the message's userId,
  else the oldest). Each merge is audited as `identity.merged` and keeps history: the loser's
  row stays with `merged_into`, its events, identities and pending triggers move over.
- A customer holds at most one userId. When an email or phone (or anonymousId) would join two
  customers with different userIds, nothing merges: the identifier stays with the customer that
  claimed it first and the clash is audited as `identity.conflict` (no silent loss). `alias`
  is an explicit instruction and merges regardless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import phonenumbers
from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from cdp.audit_queue import AuditQueue, record
from cdp.tables import ScheduledTrigger
from cdp.triggers import combine_jobs
from core.clock import utcnow
from core.tables import Customer, Event, Identity, new_id

__all__ = [
    "IDENTITY_KINDS",
    "IdentityGraph",
    "identities_of",
    "normalise_email",
    "normalise_phone",
    "resolve_customer_id",
    "resolve_identities",
]

IDENTITY_KINDS = ("user_id", "email", "phone", "anonymous_id")
Key = tuple[str, str]


def normalise_email(value: Any) -> str | None:
    if not isinstance(value, str) or "@" not in value:
        return None
    return value.strip().lower() or None


def normalise_phone(value: Any) -> str | None:
    """E.164 (`+15551234567`), or None when the number cannot be read without a country."""
    if not isinstance(value, str | int):
        return None
    try:
        parsed = phonenumbers.parse(str(value), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def identities_of(event: Event) -> list[Key]:
    """The identifiers one stored event names, strongest first."""
    traits = {**(event.context.get("traits") or {}), **event.traits}
    keys: list[Key] = []
    if event.user_id:
        keys.append(("user_id", event.user_id))
    if email := normalise_email(traits.get("email")):
        keys.append(("email", email))
    if phone := normalise_phone(traits.get("phone")):
        keys.append(("phone", phone))
    if event.anonymous_id:
        keys.append(("anonymous_id", event.anonymous_id))
    return keys


def _canonical(session: Session, customer_id: str) -> str:
    seen = set()
    current = customer_id
    while current not in seen:
        seen.add(current)
        row = session.get(Customer, current)
        if row is None or row.merged_into is None:
            return current
        current = row.merged_into
    return current


def resolve_customer_id(session: Session, any_id: str) -> str | None:
    """The canonical customer id for a canonical id or any known userId/anonymousId/email/phone."""
    if session.get(Customer, any_id) is not None:
        return _canonical(session, any_id)
    candidates = [("user_id", any_id), ("anonymous_id", any_id)]
    if email := normalise_email(any_id):
        candidates.append(("email", email))
    if any_id.startswith("+") and (phone := normalise_phone(any_id)):
        candidates.append(("phone", phone))
    for kind, value in candidates:
        row = session.exec(
            select(Identity).where(Identity.kind == kind, Identity.value == value)
        ).first()
        if row is not None:
            return _canonical(session, row.customer_id)
    return None


class IdentityGraph:
    """The identity rows one processing batch touches, read in bulk and kept in memory.

    Identity rows always point at the canonical customer (a merge re-points them), so an owner
    lookup needs no `merged_into` walk. Writes go to the session; the cache mirrors them.
    """

    def __init__(self, session: Session, on_merge: Callable[[], None] | None = None) -> None:
        self.session = session
        self.owners: dict[Key, str | None] = {}
        self._user_ids: dict[str, set[str]] = {}
        self._new_customers: list[dict[str, Any]] = []
        self._new_identities: list[dict[str, Any]] = []
        self.created: set[str] = set()
        self.on_merge = on_merge

    def flush_new(self) -> None:
        """Write the customers and identities created so far (bulk inserts)."""
        now = utcnow()
        if self._new_customers:
            self.session.execute(insert(Customer), self._new_customers)
        if self._new_identities:
            rows = [{**row, "created_at": now} for row in self._new_identities]
            self.session.execute(insert(Identity), rows)
        self._new_customers.clear()
        self._new_identities.clear()

    def before_merge(self) -> None:
        self.flush_new()
        if self.on_merge is not None:
            self.on_merge()
        self.session.flush()

    def new_customer(self) -> str:
        customer_id = new_id()
        self.created.add(customer_id)
        self._new_customers.append({"id": customer_id, "created_at": utcnow()})
        self._user_ids[customer_id] = set()
        return customer_id

    def preload(self, keys: Iterable[Key]) -> None:
        wanted = {k for k in keys if k not in self.owners}
        values = sorted({v for _, v in wanted})
        for start in range(0, len(values), 500):
            rows = self.session.exec(
                select(Identity).where(col(Identity.value).in_(values[start : start + 500]))
            ).all()
            for row in rows:
                self.owners[(row.kind, row.value)] = row.customer_id
                if row.kind == "user_id":
                    self._user_ids.setdefault(row.customer_id, set()).add(row.value)
        for key in wanted:
            self.owners.setdefault(key, None)

    def owner(self, key: Key) -> str | None:
        if key not in self.owners:
            self.preload([key])
        return self.owners[key]

    def user_ids(self, customer_id: str) -> set[str]:
        if customer_id not in self._user_ids:
            self._user_ids[customer_id] = set(
                self.session.exec(
                    select(Identity.value).where(
                        Identity.customer_id == customer_id, Identity.kind == "user_id"
                    )
                ).all()
            )
        return self._user_ids[customer_id]

    def add(self, key: Key, customer_id: str) -> None:
        self._new_identities.append({"kind": key[0], "value": key[1], "customer_id": customer_id})
        self.owners[key] = customer_id
        if key[0] == "user_id":
            self.user_ids(customer_id).add(key[1])

    def merged(self, loser: str, survivor: str) -> None:
        for key, owner in self.owners.items():
            if owner == loser:
                self.owners[key] = survivor
        moved = self._user_ids.pop(loser, set())
        self.user_ids(survivor).update(moved)


def resolve_identities(
    session: Session,
    keys: list[Key],
    *,
    actor: str = "cdp",
    explicit: bool = False,
    graph: IdentityGraph | None = None,
    audits: AuditQueue | None = None,
) -> tuple[str, list[str]]:
    """Attach `keys` to one canonical customer, merging where the rules allow.

    Returns (canonical id, ids of customers merged into it by this call). `explicit` is set for
    `alias` messages, which merge even customers with different userIds. `audits`: a batch's
    queue for the merge and conflict entries (appended now when None).
    """
    own_graph = graph is None
    graph = graph or IdentityGraph(session)
    graph.preload(keys)
    user_id = next((v for k, v in keys if k == "user_id"), None)
    primary: str | None = graph.owner(("user_id", user_id)) if user_id else None
    if primary is None:
        for key in keys:
            owner = graph.owner(key)
            if owner is None:
                continue
            if user_id is None or explicit or not (graph.user_ids(owner) - {user_id}):
                primary = owner
                break
    if primary is None:
        primary = graph.new_customer()
    merged: list[str] = []
    for key in keys:
        owner = graph.owner(key)
        if owner is None:
            graph.add(key, primary)
        elif owner != primary and owner not in merged:
            clash = graph.user_ids(owner) | graph.user_ids(primary)
            if explicit or len(clash) <= 1:
                graph.before_merge()
                _merge(session, owner, primary, reason=key, actor=actor, audits=audits)
                graph.merged(owner, primary)
                merged.append(owner)
            else:
                record(
                    session,
                    audits,
                    actor=actor,
                    kind="identity.conflict",
                    subject_type="identity",
                    subject_id=f"{key[0]}:{key[1]}",
                    customer_id=primary,
                    payload={
                        "identity": {"kind": key[0], "value": key[1]},
                        "kept_by": owner,
                        "claimed_by": primary,
                        "user_ids": sorted(clash),
                        "rule": "a customer holds one userId; first claim keeps the identifier",
                    },
                )
    if own_graph:
        graph.flush_new()
    return primary, merged


def _merge(
    session: Session,
    loser: str,
    survivor: str,
    *,
    reason: Key,
    actor: str,
    audits: AuditQueue | None,
) -> None:
    """Fold `loser` into `survivor`: identities, events and pending triggers move; history stays."""
    from cdp.profiles import merge_profiles  # profiles import identity; keep the cycle lazy

    moved = session.exec(select(Identity).where(Identity.customer_id == loser)).all()
    lost_traits = merge_profiles(session, loser=loser, survivor=survivor)
    session.execute(
        update(Identity).where(col(Identity.customer_id) == loser).values(customer_id=survivor)
    )
    session.execute(
        update(Event).where(col(Event.customer_id) == loser).values(customer_id=survivor)
    )
    session.execute(
        update(Customer).where(col(Customer.merged_into) == loser).values(merged_into=survivor)
    )
    theirs = session.exec(select(ScheduledTrigger).where(ScheduledTrigger.customer_id == loser))
    mine = {
        s.rule: s
        for s in session.exec(
            select(ScheduledTrigger).where(ScheduledTrigger.customer_id == survivor)
        )
    }
    for job in theirs.all():
        if job.rule in mine:  # one row per rule and customer: keep the newer wait of the two
            combine_jobs(mine[job.rule], job)
            session.add(mine[job.rule])
            session.delete(job)
        else:
            job.customer_id = survivor
            session.add(job)
    row = session.get(Customer, loser)
    if row is not None:
        row.merged_into = survivor
        session.add(row)
    record(
        session,
        audits,
        actor=actor,
        kind="identity.merged",
        subject_type="customer",
        subject_id=loser,
        customer_id=survivor,
        payload={
            "merged": loser,
            "into": survivor,
            "because": {"kind": reason[0], "value": reason[1]},
            "identities": [{"kind": i.kind, "value": i.value} for i in moved],
            "overridden_traits": lost_traits,
        },
    )
    session.flush()
