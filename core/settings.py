"""Runtime settings, read once from `CJO_*` environment variables (see CONTRACT.md)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["InsecureSettingsError", "Settings", "get_settings"]

# Keys that appear in our own docs and demos; never acceptable on a reachable address.
KNOWN_DEV_KEYS = frozenset({"cjo-dev-admin", "changeme", "admin", "secret"})


class InsecureSettingsError(ValueError):
    """Raised when the settings would expose cjo with a guessable secret."""


class Settings(BaseSettings):
    """All configuration of a cjo process.

    Defaults are safe for the embedded, single-machine mode that `make run` starts: a SQLite
    file under `data_dir`, an in-process stream, the local model and an SMTP capture server.
    """

    model_config = SettingsConfigDict(env_prefix="CJO_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="Where embedded state lives.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset means SQLite in data_dir."
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite fsync policy. FULL: an event answered 2xx survives a power loss. "
        "NORMAL (WAL): faster commits, but the last ones may be lost on power loss.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    environment: Literal["development", "production", "test"] = "development"
    log_level: str = "INFO"
    admin_key: str | None = Field(
        default=None, description="Bootstrap admin API key; created at start-up if set."
    )

    audit_key: SecretStr | None = Field(
        default=None,
        description="Seals the audit chain head; unset: a random key kept in data_dir/audit-key. "
        "Every process writing one database must use the same key.",
    )

    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None

    stream_url: str | None = Field(default=None, description="nats://... for JetStream.")
    smtp_url: str | None = Field(default=None, description="smtp://host:port for a relay.")

    key_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long an API key lookup is trusted (revocation lag)."
    )
    max_body_bytes: int = Field(default=512 * 1024, description="Request body limit (413 above).")

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refuse_insecure(self) -> Settings:
        exposed = not _is_loopback(self.host)
        if self.admin_key is not None:
            weak = self.admin_key in KNOWN_DEV_KEYS or len(self.admin_key) < 24
            if weak and (exposed or self.environment == "production"):
                raise InsecureSettingsError(
                    "CJO_ADMIN_KEY is a default or shorter than 24 characters while cjo is "
                    f"reachable on {self.host!r} / environment={self.environment!r}; "
                    "use a long random key (cjo keys create --role admin)"
                )
        short_audit_key = self.audit_key and len(self.audit_key.get_secret_value()) < 24
        if short_audit_key and (exposed or self.environment == "production"):
            raise InsecureSettingsError(
                "CJO_AUDIT_KEY is shorter than 24 characters; use a long random key "
                "(or leave it unset to keep a generated one in data_dir/audit-key)"
            )
        if self.environment == "production" and self.resolved_database_url.startswith("sqlite"):
            raise InsecureSettingsError(
                "environment=production needs CJO_DATABASE_URL pointing at PostgreSQL"
            )
        return self

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with `changes` (None values skipped) applied and every check run again.

        Command-line flags such as `cjo serve --host` must not bypass the refusal of insecure
        settings that the environment alone would have triggered.
        """
        values = {name: getattr(self, name) for name in type(self).model_fields}
        values.update({k: v for k, v in changes.items() if v is not None})
        return type(self).model_validate(values)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside `data_dir`."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'cjo.db').resolve()}"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


def normalise_database_url(url: str) -> str:
    """Accept the common `postgres://` / `postgresql://` spellings and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _is_loopback(host: str) -> bool:
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings` instead)."""
    return Settings()
