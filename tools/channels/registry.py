"""Which adapter serves which channel, with its rate limit, built from settings.

Embedded defaults need no network: email goes over SMTP to the in-process capture server,
SMS and push to sandbox providers, audiences and CSM tasks to local tables. Each `CJO_*`
variable below switches one channel to a real provider.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import Engine

from core.secrets import persistent_secret as _persistent_secret
from core.settings import Settings
from tools.channels.audiences import AudienceChannel
from tools.channels.base import Channel
from tools.channels.csm import CsmChannel
from tools.channels.email import EmailDefaults, SmtpEmail, parse_smtp_url
from tools.channels.push import FcmPush, SandboxPush
from tools.channels.sandbox import SandboxProvider
from tools.channels.sms import SandboxSms, TwilioStyleSms
from tools.channels.smtp_capture import CaptureServer
from tools.channels.webhook import WebhookSender

__all__ = ["DEFAULT_RATES", "ChannelConfig", "ChannelRegistry", "build_registry"]

# Sends per second per channel (a token bucket in each dispatcher process).
DEFAULT_RATES: dict[str, float] = {
    "email": 50.0,
    "sms": 10.0,
    "push": 100.0,
    "webhook": 50.0,
    "audience": 500.0,
    "csm": 50.0,
}


class ChannelConfig(BaseSettings):
    """Channel settings from `CJO_*` variables (kept here so tools/ owns them)."""

    model_config = SettingsConfigDict(env_prefix="CJO_", env_file=None, extra="ignore")

    email_from: str = "cjo demo <hello@cjo.example>"
    public_url: str | None = Field(default=None, description="Base of unsubscribe links.")
    unsubscribe_secret: str | None = None
    smtp_capture_host: str = "127.0.0.1"
    # Any free port by default: the capture server is in-process and read through the API,
    # and a fixed port would stop a second cjo on the same machine from starting.
    smtp_capture_port: int = Field(default=0, ge=0, le=65535, description="0: any free port")
    sms_url: str | None = Field(default=None, description="Twilio-style API base; unset: sandbox")
    sms_account_sid: str = "AC-sandbox"
    sms_auth_token: str = ""
    sms_from: str = "+15005550006"
    fcm_url: str | None = Field(default=None, description="FCM base URL; unset: sandbox")
    fcm_project: str = "cjo"
    fcm_access_token: str = ""
    webhook_secret: str | None = Field(default=None, description="whsec_...; unset: generated")
    crm_webhook_url: str | None = None
    provider_timeout_s: float = 10.0
    rates: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_RATES))


@dataclass
class ChannelRegistry:
    """Adapters by channel name, their rate limits, and the capture server when embedded.

    Also a BackgroundService (`name`, `start`, `stop`): starting it starts the capture server.
    """

    adapters: dict[str, Channel]
    rates: dict[str, float] = field(default_factory=dict)
    capture: CaptureServer | None = None
    webhook_secret: str = ""
    name: str = "channels"

    def get(self, channel: str) -> Channel | None:
        return self.adapters.get(channel)

    @property
    def channels(self) -> list[str]:
        return sorted(self.adapters)

    async def start(self) -> None:
        if self.capture is not None:
            await self.capture.astart()

    async def stop(self) -> None:
        if self.capture is not None:
            await self.capture.astop()


def email_defaults(settings: Settings, config: ChannelConfig | None = None) -> EmailDefaults:
    """Sender, public URL and unsubscribe secret (kept in data_dir so links stay valid)."""
    config = config or ChannelConfig()
    unsubscribe_secret = config.unsubscribe_secret or _persistent_secret(
        Path(settings.data_dir) / "unsubscribe-secret", secrets.token_urlsafe(32)
    )
    return EmailDefaults(
        from_address=config.email_from,
        public_url=config.public_url or f"http://{settings.host}:{settings.port}",
        unsubscribe_secret=unsubscribe_secret,
    )


def build_registry(
    settings: Settings, engine: Engine, config: ChannelConfig | None = None
) -> ChannelRegistry:
    """Adapters for every dispatched channel (`web` is served by GET /v1/decide instead)."""
    config = config or ChannelConfig()
    data_dir = Path(settings.data_dir)
    webhook_secret = config.webhook_secret or _persistent_secret(
        data_dir / "webhook-secret", "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    )
    defaults = email_defaults(settings, config)
    capture: CaptureServer | None = None
    if settings.smtp_url:
        host, port, user, password, tls = parse_smtp_url(settings.smtp_url)
        email = SmtpEmail(
            host,
            port,
            defaults=defaults,
            username=user,
            password=password,
            tls=tls,
            timeout=config.provider_timeout_s,
        )
    else:
        capture = CaptureServer(engine, config.smtp_capture_host, config.smtp_capture_port)
        email = SmtpEmail(
            capture.host, capture.port, defaults=defaults, timeout=config.provider_timeout_s
        )

    sms: Channel
    if config.sms_url:
        sms = TwilioStyleSms(
            config.sms_url,
            account_sid=config.sms_account_sid,
            auth_token=config.sms_auth_token,
            from_number=config.sms_from,
            timeout=config.provider_timeout_s,
        )
    else:
        sms = SandboxSms(SandboxProvider(engine, "sandbox-sms"), from_number=config.sms_from)
    push: Channel
    if config.fcm_url:
        push = FcmPush(
            config.fcm_url,
            project=config.fcm_project,
            access_token=config.fcm_access_token,
            engine=engine,
            timeout=config.provider_timeout_s,
        )
    else:
        push = SandboxPush(SandboxProvider(engine, "sandbox-push"), engine)
    webhook = WebhookSender(webhook_secret, timeout=config.provider_timeout_s)
    adapters: dict[str, Channel] = {
        "email": email,
        "sms": sms,
        "push": push,
        "webhook": webhook,
        "audience": AudienceChannel(engine),
        "csm": CsmChannel(engine, crm_url=config.crm_webhook_url, sender=webhook),
    }
    rates = {**DEFAULT_RATES, **config.rates}
    return ChannelRegistry(
        adapters=adapters, rates=rates, capture=capture, webhook_secret=webhook_secret
    )
