"""The shape `cjo eval --json` prints (CONTRACT.md): metrics, targets, passed."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EvalReport", "Target"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Target:
    op: str
    value: float

    def met_by(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.value)


@dataclass
class EvalReport:
    """Figures of one suite. `passed` is true when every target's metric meets it."""

    suite: str
    metrics: dict[str, float]
    targets: dict[str, Target] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(
            name in self.metrics and target.met_by(self.metrics[name])
            for name, target in self.targets.items()
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "suite": self.suite,
            "metrics": self.metrics,
            "targets": {k: {"op": t.op, "value": t.value} for k, t in self.targets.items()},
            "passed": self.passed,
        }
        if self.details:
            out["details"] = self.details
        return out
