"""Email over real SMTP: multipart/alternative (text + HTML) with one-click unsubscribe headers.

The Message-ID is derived from the outbox key, so a message re-sent after a crash carries the
same Message-ID; the capture server (and any relay/ESP that dedupes on Message-ID) stores it
once. A plain SMTP relay that does not dedupe leaves an at-least-once window: the relay accepted
the DATA but the process died before the outbox row was marked sent (docs/channels.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from html import escape
from typing import Any
from urllib.parse import urlsplit

import markupsafe

from tools.channels.base import (
    Delivery,
    PermanentSendError,
    SendResult,
    TransientSendError,
    require_text,
)

__all__ = [
    "ADDRESS_PLACEHOLDER",
    "EmailDefaults",
    "SmtpEmail",
    "build_email",
    "message_id_for",
    "parse_smtp_url",
    "read_unsubscribe_token",
    "unsubscribe_token",
]

UNSUBSCRIBE_PLACEHOLDER = "{{unsubscribe_url}}"
ADDRESS_PLACEHOLDER = "{{physical_address}}"
_PLACEHOLDER = re.compile(r"\{\{\s*[^{}]*?\s*\}\}")


@dataclass(frozen=True, kw_only=True)
class EmailDefaults:
    """What the journey does not have to say: sender, public base URL, token secret."""

    from_address: str = "cjo demo <hello@cjo.example>"
    public_url: str = "http://127.0.0.1:8000"
    unsubscribe_secret: str = "cjo-dev-unsubscribe"
    message_id_domain: str = "cjo.outbox"
    # The sender's postal address for `{{physical_address}}` when the payload carries none.
    physical_address: str = ""


def message_id_for(key: str, domain: str = "cjo.outbox") -> str:
    """The RFC 5322 Message-ID for an outbox key: `<sha256(key)@domain>`.

    Hashed because keys may hold characters a Message-ID may not (`journey:...`: a parser
    cuts at the colon, and every journey email would then share one id and be deduplicated
    away). The key itself travels in the X-Cjo-Idempotency-Key header.
    """
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def unsubscribe_token(customer_id: str, secret: str) -> str:
    """A URL-safe token naming the customer, signed so nobody can unsubscribe someone else."""
    ident = base64.urlsafe_b64encode(customer_id.encode()).decode().rstrip("=")
    mac = hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()[:24]
    return f"{ident}.{mac}"


def read_unsubscribe_token(token: str, secret: str) -> str | None:
    """The customer id inside a valid token, or None if it was forged or mangled."""
    ident, _, mac = token.partition(".")
    try:
        customer_id = base64.urlsafe_b64decode(ident + "=" * (-len(ident) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    expected = hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()[:24]
    return customer_id if hmac.compare_digest(mac, expected) else None


_BODY_TAG = re.compile(r"<body\b[^>]*>", re.I)


def _with_preheader(html: str, preheader: Any) -> str:
    """The preheader as the body's first, hidden text: inbox previews show the first text.

    Not added when the HTML already carries it (the brand template does), so it is never
    shown twice; escaped, because it is a plain-text field.
    """
    if not preheader or not html:
        return html
    text = escape(str(preheader), quote=False)
    if text in html or str(markupsafe.escape(str(preheader))) in html:  # as Jinja escapes it
        return html
    hidden = f'<div style="display:none;max-height:0;overflow:hidden">{text}</div>'
    opening = _BODY_TAG.search(html)
    if opening is None:
        return hidden + html
    return html[: opening.end()] + hidden + html[opening.end() :]


def build_email(delivery: Delivery, defaults: EmailDefaults) -> EmailMessage:
    """Render the payload {to, from?, subject, preheader?, text, html, unsubscribe_url?,
    physical_address?, headers?}.

    Fills the sender and the unsubscribe URL (`<public_url>/u/<token>`), replaces the
    `{{unsubscribe_url}}` and `{{physical_address}}` placeholders in text and HTML (the address
    from the payload, else `defaults.physical_address`), and sets List-Unsubscribe (URL and
    mailto) with List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058). An email that
    would still show a `{{...}}` placeholder is refused (PermanentSendError naming it): the
    customer must never see one, least of all in place of the legally required address.
    """
    payload = delivery.payload
    to = require_text(payload, "to", "email")
    if "@" not in parseaddr(to)[1]:
        raise PermanentSendError(f"payload.to: {to!r} is not an email address")
    subject = require_text(payload, "subject", "email")
    text = require_text(payload, "text", "email")
    html = payload.get("html") or ""
    sender = payload.get("from") or defaults.from_address
    unsubscribe_url = payload.get("unsubscribe_url") or unsubscribe_url_for(
        delivery.customer_id or to, defaults
    )
    text = text.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url)
    html = html.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url)
    text, html = _fill_address(text, html, payload, defaults)
    for part, value in (("subject", subject), ("text", text), ("html", html)):
        if left := _PLACEHOLDER.search(value):
            raise PermanentSendError(f"payload.{part}: placeholder {left.group(0)} is not filled")
    html = _with_preheader(html, payload.get("preheader"))

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id_for(delivery.key, defaults.message_id_domain)
    for name, value in _unsubscribe_headers(unsubscribe_url, sender).items():
        msg[name] = value
    msg["X-Cjo-Idempotency-Key"] = delivery.key
    extra: dict[str, Any] = payload.get("headers") or {}
    for name, value in extra.items():
        lowered = name.lower()
        if lowered in _OWN_HEADERS or lowered.startswith(("list-", "x-cjo-")):
            continue  # set from the payload fields and the key, never by free-form headers
        try:
            msg[name] = str(value)
        except ValueError as exc:  # e.g. a newline in a header value: the payload is wrong
            raise PermanentSendError(f"payload.headers.{name}: {exc}") from exc
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


def _fill_address(
    text: str, html: str, payload: dict[str, Any], defaults: EmailDefaults
) -> tuple[str, str]:
    """Put the sender's postal address where the copy says `{{physical_address}}`."""
    if ADDRESS_PLACEHOLDER not in text and ADDRESS_PLACEHOLDER not in html:
        return text, html
    address = str(payload.get("physical_address") or defaults.physical_address).strip()
    if not address:
        raise PermanentSendError(
            "payload.physical_address: the email uses {{physical_address}} but no sender "
            "address is configured (guardrails policy email.physical_address)"
        )
    return (
        text.replace(ADDRESS_PLACEHOLDER, address),
        html.replace(ADDRESS_PLACEHOLDER, escape(address)),
    )


# Headers only cjo sets: recipients come from `to` alone (no Cc/Bcc smuggled in headers).
_OWN_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "reply-to", "sender", "subject", "message-id", "date"}
)


def unsubscribe_url_for(who: str, defaults: EmailDefaults) -> str:
    """The one-click unsubscribe URL for a customer (or address): `<public_url>/u/<token>`."""
    token = unsubscribe_token(who, defaults.unsubscribe_secret)
    return f"{defaults.public_url.rstrip('/')}/u/{token}"


def _unsubscribe_headers(url: str, sender: str) -> dict[str, str]:
    domain = parseaddr(sender)[1].partition("@")[2] or "cjo.example"
    return {
        "List-Unsubscribe": f"<{url}>, <mailto:unsubscribe@{domain}?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def compliance_headers(customer_id: str | None, to: str, defaults: EmailDefaults) -> dict[str, str]:
    """The List-Unsubscribe headers `build_email` will set, for send-time guardrail checks."""
    url = unsubscribe_url_for(customer_id or to, defaults)
    return _unsubscribe_headers(url, defaults.from_address)


def parse_smtp_url(url: str) -> tuple[str, int, str | None, str | None, bool]:
    """`smtp://[user:pass@]host[:port]` (or `smtps://`) -> (host, port, user, password, tls)."""
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ValueError(f"CJO_SMTP_URL: expected smtp://host:port, got {url!r}")
    tls = parts.scheme == "smtps"
    return parts.hostname, parts.port or (465 if tls else 25), parts.username, parts.password, tls


class SmtpEmail:
    """Sends each delivery over one SMTP conversation (smtplib), with a clear error contract.

    SMTP 4xx replies, timeouts and refused connections are transient; 5xx replies and bad
    payloads are permanent.
    """

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        defaults: EmailDefaults | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.defaults = defaults or EmailDefaults()
        self.username = username
        self.password = password
        self.tls = tls
        self.timeout = timeout

    def send(self, delivery: Delivery) -> SendResult:
        msg = build_email(delivery, self.defaults)
        sender = parseaddr(str(msg["From"]))[1]
        recipient = parseaddr(str(msg["To"]))[1]
        try:
            smtp_class = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
            with smtp_class(self.host, self.port, timeout=self.timeout) as smtp:
                if not self.tls and self.username and smtp.has_extn("starttls"):
                    smtp.starttls()
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(msg, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _classify(code, reply, "recipient refused") from exc
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error, "SMTP error") from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TransientSendError(f"SMTP connection: {type(exc).__name__}: {exc}") from exc
        if refused:
            code, reply = next(iter(refused.values()))
            raise _classify(code, reply, "recipient refused")
        return SendResult(str(msg["Message-ID"]), {"to": recipient})


def _classify(code: int, reply: bytes | str, what: str) -> Exception:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    reason = f"{what}: {code} {text}"
    return TransientSendError(reason) if 400 <= code < 500 else PermanentSendError(reason)
