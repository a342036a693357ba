"""The console's bridge to guardrails/: review actions, live checks and policy, imported lazily.

The review service lives in `guardrails.review` and the checks in `guardrails.engine`; importing
them only when a reviewer acts keeps the console loadable in builds without them, where the
pages say so instead of failing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

__all__ = ["ReviewRefusal", "ServiceMissing", "classify", "engine", "load", "policy", "review"]


class ServiceMissing(RuntimeError):
    """guardrails/ is not part of this build."""


def load(name: str) -> ModuleType:
    """Import a sibling package's module, or raise ServiceMissing naming it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ServiceMissing(f"{name} is not installed in this build ({exc})") from exc


def review() -> ModuleType:
    """`guardrails.review`: approve, reject, edit, content_hash."""
    return load("guardrails.review")


def engine() -> ModuleType:
    """`guardrails.engine`: check_text."""
    return load("guardrails.engine")


def policy() -> ModuleType:
    """`guardrails.policy`: default_policy (the email merge fields a preview fills)."""
    return load("guardrails.policy")


@dataclass(frozen=True)
class ReviewRefusal:
    """Why the review service said no, as the console shows it."""

    status: int
    message: str
    verdicts: list[dict[str, Any]] = field(default_factory=list)


_STATUS_BY_NAME = {"ReviewConflict": 409, "StaleApproval": 409, "SelfApproval": 403}


def _verdicts_of(exc: BaseException) -> list[dict[str, Any]]:
    report = getattr(exc, "report", None)
    verdicts = getattr(report, "verdicts", None) or getattr(exc, "verdicts", None) or []
    out = []
    for v in verdicts:
        data = v.model_dump(mode="json") if hasattr(v, "model_dump") else dict(v)
        out.append(data)
    return out


def classify(exc: BaseException) -> ReviewRefusal | None:
    """Turn an exception raised by guardrails/ into a refusal; None if it is not theirs."""
    if not type(exc).__module__.startswith("guardrails"):
        return None
    name = type(exc).__name__
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status != 422 and 400 <= status < 600:
        return ReviewRefusal(status, str(exc) or name)
    if name in _STATUS_BY_NAME:
        return ReviewRefusal(_STATUS_BY_NAME[name], str(exc) or name)
    if "NotFound" in name or isinstance(exc, LookupError):
        return ReviewRefusal(404, str(exc) or "no such review")
    verdicts = _verdicts_of(exc)
    return ReviewRefusal(422, str(exc) or "refused by guardrails", verdicts)
