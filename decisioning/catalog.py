"""The action catalog: what cjo may do for a customer, loaded from versioned YAML.

Each action carries what arbitration needs: channel, offer, cost and value, the marketer's
priority, hard eligibility rules, where it applies (triggers, journeys, placements), a cooldown,
and whether a human must review it. A bad file fails loudly with the field that is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from core.domain import CHANNELS

__all__ = [
    "DEFAULT_CATALOG_PATH",
    "ActionSpec",
    "Applicability",
    "Catalog",
    "CatalogError",
    "Limits",
    "Rule",
    "load_catalog",
]

DEFAULT_CATALOG_PATH = Path(__file__).resolve().parent.parent / "examples" / "catalog.yaml"

T = TypeVar("T")

RuleOp = Literal["==", "!=", ">", ">=", "<", "<=", "in", "not_in", "exists", "missing"]


class CatalogError(ValueError):
    """The catalog file is missing, not YAML, or has an invalid field (named in the message)."""


class Rule(BaseModel):
    """One hard eligibility rule on the profile, e.g. `computed.churn_risk >= 0.6`.

    `field` is a dotted path into the profile: `computed.*`, `traits.*`, `consent.*`,
    `timezone`, `locale`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(pattern=r"^(computed|traits|consent|timezone|locale)(\.[A-Za-z0-9_]+)*$")
    op: RuleOp
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Rule:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a list value")
        if self.op in (">", ">=", "<", "<=") and not isinstance(self.value, int | float):
            raise ValueError(f"op {self.op!r} needs a number value")
        return self

    def describe(self) -> str:
        if self.op in ("exists", "missing"):
            return f"{self.field} {self.op}"
        return f"{self.field} {self.op} {self.value!r}"


class Applicability(BaseModel):
    """Where an action fits. Empty lists mean "any" (placements: outbound only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    triggers: list[str] = Field(default_factory=list)
    journeys: list[str] = Field(default_factory=list)
    placements: list[str] = Field(default_factory=list)


class ActionSpec(BaseModel):
    """One intervention cjo can choose. `value` is the expected gain if the customer responds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,99}$")
    name: str = Field(min_length=1)
    channel: str
    kind: Literal["offer", "reminder", "nudge", "content", "task", "audience", "lifecycle"]
    offer: dict[str, Any] = Field(default_factory=dict)
    cost: float = Field(default=0.0, ge=0)
    value: float = Field(default=0.0, ge=0)
    priority: float = Field(default=1.0, gt=0, description="Marketer's lever; multiplies score.")
    base_propensity: float = Field(
        default=0.05, ge=0, le=1, description="Prior P(response) before any outcome is learned."
    )
    eligibility: list[Rule] = Field(default_factory=list)
    applicability: Applicability = Field(default_factory=Applicability)
    cooldown_days: float = Field(default=0.0, ge=0)
    needs_review: bool = False
    description: str = ""

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str) -> str:
        if value not in CHANNELS:
            raise ValueError(f"unknown channel {value!r}; one of {', '.join(CHANNELS)}")
        return value

    @field_validator("offer")
    @classmethod
    def _sane_offer(cls, value: dict[str, Any]) -> dict[str, Any]:
        pct = value.get("discount_pct")
        if pct is not None and (not isinstance(pct, int | float) or not 0 < pct <= 100):
            raise ValueError("offer.discount_pct must be a number in (0, 100]")
        return value

    @property
    def discount_pct(self) -> float:
        return float(self.offer.get("discount_pct", 0) or 0)

    @property
    def inbound(self) -> bool:
        """Web placements answer GET /v1/decide; they are never sent."""
        return self.channel == "web"


class Limits(BaseModel):
    """Budget and discount limits the built-in suitability check enforces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_discount_pct: float = Field(default=20, gt=0, le=100)
    max_offers_per_30_days: int = Field(default=2, ge=0)
    high_discount_min_monetary: float = Field(
        default=0.0,
        ge=0,
        description="Offers above 10% only for customers whose monetary reaches this.",
    )


class Catalog(BaseModel):
    """A versioned set of actions plus the limits that apply to all of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=32)
    limits: Limits = Field(default_factory=Limits)
    actions: list[ActionSpec] = Field(min_length=1)
    _by_id: dict[str, ActionSpec] = PrivateAttr(default_factory=dict)
    _memo: dict[str, tuple[list[ActionSpec], Any]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_ids(self) -> Catalog:
        seen: set[str] = set()
        for action in self.actions:
            if action.id in seen:
                raise ValueError(f"duplicate action id {action.id!r}")
            seen.add(action.id)
        return self

    def model_post_init(self, __context: Any) -> None:
        self._by_id = {a.id: a for a in self.actions}

    def get(self, action_id: str) -> ActionSpec:
        """The action with this id; KeyError naming it if the catalog has none."""
        try:
            return self._by_id[action_id]
        except KeyError:
            raise KeyError(f"no action {action_id!r} in catalog {self.version}") from None

    @property
    def ids(self) -> list[str]:
        return [a.id for a in self.actions]

    def memo(self, key: str, build: Callable[[Catalog], T]) -> T:
        """Work done once per catalog, not per decision (arbitration's compiled rules).

        Rebuilt when `actions` is another list (a `model_copy(update=...)` shares this memo).
        """
        hit = self._memo.get(key)
        if hit is None or hit[0] is not self.actions:
            hit = (self.actions, build(self))
            self._memo[key] = hit
        value: T = hit[1]
        return value


def _field_path(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """`actions.3.channel` -> `actions[3](winback_email_15).channel`, so the error is findable."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                ident = node[item].get("id")
                label += f"({ident})" if ident else ""
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(item))
        node = _child(node, item)
    return "".join(parts)


def _child(node: Any, key: int | str) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and key < len(node):
        return node[key]
    return None


def parse_catalog(data: Any, *, source: str = "<data>") -> Catalog:
    """Validate a parsed YAML/dict catalog; CatalogError lists each bad field and why."""
    if not isinstance(data, dict):
        raise CatalogError(f"{source}: the catalog must be a mapping with version and actions")
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{_field_path(tuple(e['loc']), data) or '(root)'}: {e['msg']}" for e in exc.errors()
        ]
        raise CatalogError(f"{source}: invalid catalog: " + "; ".join(problems)) from exc


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate a catalog file (default: examples/catalog.yaml)."""
    path = path or DEFAULT_CATALOG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from exc
    return parse_catalog(data, source=str(path))
