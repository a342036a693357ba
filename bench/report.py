"""The shape `cjo bench --json` prints (CONTRACT.md): metrics and the machine they ran on."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BenchReport", "machine_info", "percentile", "timed"]


def machine_info() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile of `samples` (q in 0..100)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


@dataclass
class BenchReport:
    bench: str
    metrics: dict[str, float]
    machine: dict[str, Any] = field(default_factory=machine_info)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bench": self.bench,
            "metrics": self.metrics,
            "machine": self.machine,
        }
        if self.details:
            out["details"] = self.details
        return out
