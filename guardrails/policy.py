"""The guardrail policy: a versioned YAML file, validated into typed settings.

Policies are config, not code, so marketers and legal can change limits without a release; the
version (name@version plus a digest of the file) goes into every report and audit entry.
"""

from __future__ import annotations

import hashlib
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DEFAULT_POLICY_PATH", "Policy", "default_policy", "load_policy"]

DEFAULT_POLICY_PATH = Path(__file__).with_name("policy.yaml")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConsentPolicy(_Frozen):
    required_channels: list[str] = ["email", "sms", "push", "audience"]
    implied_days: dict[str, int] = {"purchase": 730, "inquiry": 183}
    # Channels where implied consent is enough; marketing SMS needs express consent (US TCPA).
    implied_channels: list[str] = ["email"]


class FrequencyPolicy(_Frozen):
    per_channel: dict[str, int] = {}
    overall: int = 4
    overall_channels: list[str] = ["email", "sms", "push", "csm"]


class Window(_Frozen):
    """Local hours when sending is allowed, [start, end); a window may cross midnight
    (start 20:00, end 02:00 allows the evening and the small hours)."""

    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if self.start == self.end:
            raise ValueError(f"window start and end are both {self.start}: it allows nothing")
        return self

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # crosses midnight


class RegionWindow(Window):
    match: dict[str, list[str]]


class QuietHoursPolicy(_Frozen):
    channels: list[str] = ["email", "sms", "push", "csm"]
    default: Window = Window(start=time(8), end=time(21))
    regions: list[RegionWindow] = []


class EmailPolicy(_Frozen):
    physical_address: str = ""
    address_placeholder: str = "{{physical_address}}"
    unsubscribe_placeholder: str = "{{unsubscribe_url}}"
    deceptive_subject_patterns: list[str] = []


class ContentPolicy(_Frozen):
    banned_phrases: list[str] = []
    claims: dict[str, list[str]] = {}
    max_discount_pct: float = 30
    max_offer_value: float = 100.0
    allowed_domains: list[str] = []
    min_conformance: float = 0.6


class RiskPolicy(_Frozen):
    escalate_at: float = 0.6
    value_ceiling: float = 200.0
    weights: dict[str, float] = {}
    tiers: dict[str, float] = {}


class ReviewPolicy(_Frozen):
    sla_hours: float = 24


class Policy(_Frozen):
    """One complete policy; `version_tag` is what reports and audit entries record."""

    name: str = "default"
    version: int = 1
    consent: ConsentPolicy = ConsentPolicy()
    frequency: FrequencyPolicy = FrequencyPolicy()
    quiet_hours: QuietHoursPolicy = QuietHoursPolicy()
    email: EmailPolicy = EmailPolicy()
    content: ContentPolicy = ContentPolicy()
    risk: RiskPolicy = RiskPolicy()
    review: ReviewPolicy = ReviewPolicy()
    digest: str = Field(default="", description="sha256 of the source text (first 12 chars).")

    @property
    def version_tag(self) -> str:
        tag = f"{self.name}@{self.version}"
        return f"{tag}+{self.digest}" if self.digest else tag

    @classmethod
    def from_yaml(cls, text: str) -> Policy:
        data: Any = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError("policy YAML must be a mapping at the top level")
        data["digest"] = hashlib.sha256(text.encode()).hexdigest()[:12]
        return cls.model_validate(data)


def load_policy(path: Path | str) -> Policy:
    """Read and validate a policy file (errors name the bad field)."""
    return Policy.from_yaml(Path(path).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The policy shipped with cjo (guardrails/policy.yaml)."""
    return load_policy(DEFAULT_POLICY_PATH)
