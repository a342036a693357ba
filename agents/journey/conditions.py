"""Branch conditions: small, typed tests on a run's facts (no expression language to escape)."""

from __future__ import annotations

from typing import Any

from agents.journey.spec import Condition

__all__ = ["evaluate", "lookup"]

_MISSING = object()


def lookup(facts: dict[str, Any], path: str) -> Any:
    """Walk a dotted path through nested dicts; a missing key gives the `_MISSING` marker."""
    value: Any = facts
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def evaluate(condition: Condition, facts: dict[str, Any]) -> bool:
    """True when the fact at `condition.field` passes `op` against `value`; missing is False."""
    actual = lookup(facts, condition.field)
    if condition.op == "exists":
        return actual is not _MISSING and actual is not None
    if actual is _MISSING or actual is None:
        return condition.op == "ne" and condition.value is not None
    expected = condition.value
    try:
        match condition.op:
            case "eq":
                return bool(actual == expected)
            case "ne":
                return bool(actual != expected)
            case "gt":
                return bool(actual > expected)
            case "gte":
                return bool(actual >= expected)
            case "lt":
                return bool(actual < expected)
            case "lte":
                return bool(actual <= expected)
            case "in":
                return actual in (expected or [])
    except TypeError:
        return False  # e.g. comparing a string trait with a number: the rule does not match
    return False
