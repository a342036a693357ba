"""Global control group, per-journey holdouts and the AI/rules policy split.

Membership is a hash of the customer id (and journey), so it is stable across processes and
restarts without storing anything, and each split uses its own salt so the groups are independent.
Rates come from `CJO_DECISIONING_*` environment variables; every function also takes an override.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DecisioningSettings",
    "bucket",
    "get_decisioning_settings",
    "in_global_control",
    "in_journey_holdout",
    "policy_arm",
]

PolicyArm = Literal["model", "rules"]


class DecisioningSettings(BaseSettings):
    """Rates of the control groups and the share of decisions the model makes."""

    model_config = SettingsConfigDict(env_prefix="CJO_DECISIONING_", extra="ignore")

    global_control_rate: float = Field(default=0.05, ge=0, le=1)
    journey_holdout_rate: float = Field(default=0.10, ge=0, le=1)
    model_share: float = Field(default=0.70, ge=0, le=1, description="AI share; rest is rules.")
    epsilon: float = Field(default=0.10, ge=0, le=1, description="Exploration on the model arm.")
    ucb_alpha: float = Field(default=0.05, ge=0, description="LinUCB exploration bonus weight.")


@lru_cache(maxsize=1)
def get_decisioning_settings() -> DecisioningSettings:
    return DecisioningSettings()


def bucket(*parts: str) -> float:
    """A uniform number in [0, 1) from the sha256 of the parts: same input, same bucket."""
    raw = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(raw[:8], "big") / 2**64


def in_global_control(customer_id: str, *, rate: float | None = None) -> bool:
    """True for the customers who receive no marketing action at all (the global control)."""
    rate = get_decisioning_settings().global_control_rate if rate is None else rate
    return bucket("global-control", customer_id) < rate


def in_journey_holdout(customer_id: str, journey_slug: str, *, rate: float | None = None) -> bool:
    """True when this customer is held out of this journey's actions (its own control)."""
    rate = get_decisioning_settings().journey_holdout_rate if rate is None else rate
    return bucket("journey-holdout", journey_slug, customer_id) < rate


def policy_arm(customer_id: str, *, model_share: float | None = None) -> PolicyArm:
    """Whether the model or the marketer's rules decide for this customer (sticky per customer)."""
    share = get_decisioning_settings().model_share if model_share is None else model_share
    return "model" if bucket("policy-arm", customer_id) < share else "rules"
