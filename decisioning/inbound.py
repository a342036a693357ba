"""Inbound content: the words a web/app slot shows, screened before arbitration chooses.

`GET /v1/decide` answers a page load, so two things differ from an outbound journey:

* Nothing can wait. Content for a slot comes from a rendered-content cache keyed by what the
  words depend on (segment, action, brand version, locale, offer, product); a miss renders the
  approved-blocks copy at once and asks the slower renderer (the LLM draft) in the background,
  whose result replaces the copy for every later visitor of that key. A hot slot therefore
  never calls the model, and never re-scores copy it already scored.
* Nobody reviews a banner before it shows. `ContentCheck` is a suitability check: it renders
  each passing web candidate's content and runs the content guardrails on it; blocked copy,
  copy a person would have to review, or a paused channel removes the candidate, so
  arbitration picks the next best one or "do nothing", and the stored explanation says why.

The brand and guardrail functions are passed in (api/routes/decide.py wires them), so this
module needs neither package.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from core.audit import digest
from core.domain import Outcome, ProfileView, Verdict
from decisioning.catalog import ActionSpec

__all__ = ["CHECK", "ContentCheck", "ContentUnavailableError", "SlotContent", "SlotContentCache"]

log = logging.getLogger(__name__)

CHECK = "inbound_content"
RETRY_S = 600.0  # a provisional copy (model not asked yet, or it failed) is re-drafted after this


class ContentUnavailableError(LookupError):
    """No approved copy can be rendered for this action (e.g. no brand kit loaded yet)."""


@dataclass(frozen=True)
class SlotContent:
    """Rendered, brand-scored content for one web action, and where it came from."""

    content: dict[str, Any]
    source: str  # llm | revised | cache | fallback (approved blocks)
    brand_version: str
    conformance_score: float | None = None
    final: bool = True  # False: provisional copy while (or because) the model has not answered

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "brand_version": self.brand_version,
            "conformance_score": self.conformance_score,
            "content_digest": digest(self.content)[:16],
        }


Render = Callable[[ProfileView, ActionSpec], SlotContent]
KeyOf = Callable[[ProfileView, ActionSpec], Hashable]


@dataclass
class _Entry:
    slot: SlotContent
    attempted: float | None = None  # when render_best was last asked for this key


class SlotContentCache:
    """A bounded, thread-safe LRU of rendered slot content with background upgrades.

    `render_now` must be fast and model-free (approved blocks, or a cached draft); `render_best`
    may call the LLM and runs on one background thread, once per key at a time. Without
    `render_best`, whatever `render_now` gives is final.
    """

    def __init__(
        self,
        key_of: KeyOf,
        render_now: Render,
        render_best: Render | None = None,
        *,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key_of = key_of
        self.render_now = render_now
        self.render_best = render_best
        self.max_entries = max_entries
        self.clock = clock
        self._items: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._in_flight: dict[Hashable, Future[None]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self.renders = 0  # foreground renders (cache misses)

    def get(self, profile: ProfileView, action: ActionSpec) -> SlotContent:
        key = self.key_of(profile, action)
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
        if entry is None:
            slot = self.render_now(profile, action)
            if self.render_best is not None:
                slot = replace(slot, final=False)
            with self._lock:
                self.renders += 1
                entry = self._put(key, slot)
        if not entry.slot.final:
            self._upgrade(key, entry, profile, action)
        return entry.slot

    def _put(self, key: Hashable, slot: SlotContent) -> _Entry:
        entry = _Entry(slot)
        self._items[key] = entry
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
        return entry

    def _upgrade(
        self, key: Hashable, entry: _Entry, profile: ProfileView, action: ActionSpec
    ) -> None:
        """Ask `render_best` for this key in the background, unless it was asked recently."""
        render_best = self.render_best
        if render_best is None:
            return
        with self._lock:
            if key in self._in_flight:
                return
            if entry.attempted is not None and self.clock() - entry.attempted < RETRY_S:
                return
            entry.attempted = self.clock()
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slot-content")

            def work() -> None:
                try:
                    slot = render_best(profile, action)
                except Exception:  # a failed draft keeps the approved copy; retried later
                    log.exception("slot content draft failed", extra={"fields": {"key": str(key)}})
                    return
                finally:
                    with self._lock:
                        self._in_flight.pop(key, None)
                if slot.final:
                    with self._lock:
                        self._put(key, slot)

            self._in_flight[key] = self._pool.submit(work)

    def wait(self, timeout: float | None = None) -> None:
        """Block until every background draft asked so far has finished (tests, shutdown)."""
        with self._lock:
            pending = list(self._in_flight.values())
        for future in pending:
            future.result(timeout=timeout)

    def __len__(self) -> int:
        return len(self._items)


Screen = Callable[[ProfileView, ActionSpec, SlotContent, datetime], list[Verdict]]


@dataclass
class ContentCheck:
    """Suitability check for web candidates: content ready and allowed by the guardrails.

    One instance per request: `served` keeps the content each passing candidate was judged
    on, so the answer shows exactly the words the guardrails saw.
    """

    contents: SlotContentCache
    screen: Screen
    paused: bool = False
    served: dict[str, SlotContent] = field(default_factory=dict)

    def __call__(self, profile: ProfileView, action: ActionSpec, now: datetime) -> Verdict | None:
        if not action.inbound:
            return None
        if self.paused:
            return Verdict.block(CHECK, "kill_switch: web or all channels paused")
        if action.needs_review:
            return Verdict.block(CHECK, "needs_review: a page load cannot wait for a reviewer")
        try:
            slot = self.contents.get(profile, action)
        except ContentUnavailableError as exc:
            return Verdict.block(CHECK, f"no_content: {exc}")
        verdicts = self.screen(profile, action, slot, now)
        stopped = [v for v in verdicts if v.outcome != Outcome.allow]
        if stopped:
            return Verdict.block(
                CHECK, *(f"{v.check} {v.outcome.value}: {r}" for v in stopped for r in v.reasons)
            )
        self.served[action.id] = slot
        info = slot.describe()
        return Verdict(
            check=CHECK,
            outcome=Outcome.allow,
            reasons=[
                f"source {info['source']}, brand {info['brand_version']}, "
                f"conformance {info['conformance_score']}, content {info['content_digest']}"
            ],
        )
