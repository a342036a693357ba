"""Variant cache: approved creative reused per (segment, action, channel, brand version, locale).

Steady-state sends then cost no LLM call: only the first customer of a segment for an action
and channel waits for a draft. Cached drafts are stored before personalisation, so one variant
serves every customer of the segment and names come in from each profile at render time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["VariantCache", "VariantKey"]


@dataclass(frozen=True)
class VariantKey:
    segment: str
    action_id: str
    channel: str
    brand_version: str
    locale: str
    offer_id: str = ""


class VariantCache:
    """A bounded, thread-safe LRU map of approved, un-personalised drafts."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._items: OrderedDict[VariantKey, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, key: VariantKey) -> dict[str, Any] | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: VariantKey, value: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
