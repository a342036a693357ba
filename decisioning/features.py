"""Profile features the bandit and the explanations use, and the eligibility rule evaluator.

Features are small, bounded numbers derived from the CDP's computed traits so that a linear
model over them stays well conditioned; missing traits fall back to neutral values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.domain import ProfileView
from decisioning.catalog import Rule

__all__ = [
    "FEATURE_NAMES",
    "MISSING",
    "CompiledRule",
    "compile_rule",
    "eval_compiled",
    "eval_rule",
    "feature_vector",
    "lookup",
]

FEATURE_NAMES = (
    "bias",
    "churn_risk",
    "recency",
    "frequency",
    "monetary",
    "open_cart",
    "cart_value",
    "new_customer",
)

MISSING = object()  # what `lookup` returns for an absent field


def _num(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return default


def feature_vector(profile: ProfileView, churn_risk: float | None = None) -> np.ndarray:
    """The context vector x (len(FEATURE_NAMES)) for this profile, each entry in about [0, 1]."""
    c = profile.computed
    raw_cart = c.get("open_cart")
    cart: dict[str, Any] = raw_cart if isinstance(raw_cart, dict) else {}
    orders = _num(c.get("order_count", c.get("frequency")))
    risk = churn_risk if churn_risk is not None else _num(c.get("churn_risk"), 0.5)
    return np.array(
        [
            1.0,
            min(max(risk, 0.0), 1.0),
            min(_num(c.get("recency_days"), 365.0), 365.0) / 365.0,
            min(math.log1p(max(orders, 0.0)) / math.log(50.0), 1.0),
            min(math.log1p(max(_num(c.get("monetary")), 0.0)) / math.log(1000.0), 1.5),
            1.0 if _num(cart.get("items")) > 0 else 0.0,
            min(math.log1p(max(_num(cart.get("value")), 0.0)) / math.log(1000.0), 1.5),
            1.0 if orders <= 1 else 0.0,
        ]
    )


def lookup(profile: ProfileView, path: str) -> Any:
    """Value at a dotted path (`computed.open_cart.items`) or a sentinel when absent."""
    head, *rest = path.split(".")
    return _walk(profile, head, rest)


def _walk(profile: ProfileView, head: str, rest: Sequence[str]) -> Any:
    node: Any = getattr(profile, head)
    for key in rest:
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return MISSING if node is None else node


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its path split and its description made once (per catalog, not decision)."""

    rule: Rule
    head: str
    rest: tuple[str, ...]
    described: str


def compile_rule(rule: Rule) -> CompiledRule:
    head, *rest = rule.field.split(".")
    return CompiledRule(rule, head, tuple(rest), rule.describe())


def eval_rule(profile: ProfileView, rule: Rule) -> tuple[bool, str]:
    """(passed, reason) for one eligibility rule; a missing field fails every comparison."""
    return eval_compiled(profile, compile_rule(rule))


def eval_compiled(profile: ProfileView, compiled: CompiledRule) -> tuple[bool, str]:
    """`eval_rule` for a compiled rule."""
    rule = compiled.rule
    actual = _walk(profile, compiled.head, compiled.rest)
    if rule.op == "exists":
        return actual is not MISSING, compiled.described
    if rule.op == "missing":
        return actual is MISSING, compiled.described
    if actual is MISSING:
        return False, f"{compiled.described}: {rule.field} unknown"
    try:
        passed = _compare(actual, rule.op, rule.value)
    except TypeError:
        passed = False
    return passed, f"{compiled.described}: actual {actual!r}"


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "==":
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    a, e = float(actual), float(expected)
    return {">": a > e, ">=": a >= e, "<": a < e, "<=": a <= e}[op]
