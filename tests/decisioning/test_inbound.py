"""The inbound content cache and check, with stand-in renderers (no brand store, no model)."""

from __future__ import annotations

from datetime import UTC, datetime

from core.domain import Outcome, ProfileView, Verdict
from decisioning.catalog import ActionSpec
from decisioning.inbound import (
    RETRY_S,
    ContentCheck,
    ContentUnavailableError,
    SlotContent,
    SlotContentCache,
)

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
BANNER = ActionSpec(id="banner", name="Banner", channel="web", kind="content")
EMAIL = ActionSpec(id="mail", name="Mail", channel="email", kind="nudge")
VISITOR = ProfileView(customer_id="v-1")


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _slot(source: str, final: bool = True) -> SlotContent:
    return SlotContent({"headline": source}, source, "v1", 0.9, final=final)


def test_a_miss_serves_approved_copy_and_the_draft_replaces_it_once() -> None:
    asked: list[str] = []

    def best(profile: ProfileView, action: ActionSpec) -> SlotContent:
        asked.append(profile.customer_id)
        return _slot("llm")

    cache = SlotContentCache(lambda p, a: a.id, lambda p, a: _slot("fallback"), best)
    first = cache.get(VISITOR, BANNER)
    assert first.source == "fallback" and not first.final
    cache.wait(timeout=10)
    for i in range(5):
        assert cache.get(ProfileView(customer_id=f"v-{i}"), BANNER).source == "llm"
    assert asked == ["v-1"] and cache.renders == 1


def test_a_failed_draft_keeps_the_copy_and_is_retried_only_later() -> None:
    clock = Clock()
    answers = [_slot("fallback", final=False), _slot("llm")]
    asked: list[float] = []

    def best(profile: ProfileView, action: ActionSpec) -> SlotContent:
        asked.append(clock.t)
        return answers.pop(0)

    cache = SlotContentCache(lambda p, a: a.id, lambda p, a: _slot("fallback"), best, clock=clock)
    cache.get(VISITOR, BANNER)
    cache.wait(timeout=10)
    clock.t = RETRY_S / 2
    assert cache.get(VISITOR, BANNER).source == "fallback"  # outage: copy stays, no new ask
    cache.wait(timeout=10)
    assert asked == [0.0]
    clock.t = RETRY_S + 1
    cache.get(VISITOR, BANNER)
    cache.wait(timeout=10)
    assert asked == [0.0, RETRY_S + 1]
    assert cache.get(VISITOR, BANNER).source == "llm"


def test_without_a_drafter_the_copy_is_final_and_the_cache_is_bounded() -> None:
    cache = SlotContentCache(lambda p, a: p.customer_id, lambda p, a: _slot("fallback"), None)
    cache.max_entries = 3
    for i in range(5):
        assert cache.get(ProfileView(customer_id=f"v-{i}"), BANNER).final
    assert len(cache) == 3


def test_content_check_blocks_what_the_screen_stops_and_keeps_what_it_served() -> None:
    cache = SlotContentCache(lambda p, a: a.id, lambda p, a: _slot("fallback"), None)

    def screen(p: ProfileView, a: ActionSpec, s: SlotContent, now: datetime) -> list[Verdict]:
        return [Verdict.allow("pii"), Verdict.block("banned_phrases", "banned_phrase:free")]

    blocked = ContentCheck(cache, screen)(VISITOR, BANNER, NOW)
    assert blocked is not None and blocked.outcome is Outcome.block
    assert blocked.reasons == ["banned_phrases block: banned_phrase:free"]

    check = ContentCheck(cache, lambda p, a, s, now: [Verdict.allow("pii")])
    allowed = check(VISITOR, BANNER, NOW)
    assert allowed is not None and allowed.outcome is Outcome.allow
    assert check.served["banner"].source == "fallback"
    assert check(VISITOR, EMAIL, NOW) is None  # outbound actions are not this check's business


def test_content_check_refuses_review_pause_and_missing_copy() -> None:
    def missing(p: ProfileView, a: ActionSpec) -> SlotContent:
        raise ContentUnavailableError("no brand kit ingested yet")

    ok = SlotContentCache(lambda p, a: a.id, lambda p, a: _slot("fallback"), None)
    review = BANNER.model_copy(update={"needs_review": True})
    cases = [
        (ContentCheck(ok, lambda *_: [], paused=True), BANNER, "kill_switch"),
        (ContentCheck(ok, lambda *_: []), review, "needs_review"),
        (ContentCheck(SlotContentCache(lambda p, a: a.id, missing), lambda *_: []), BANNER, "kit"),
    ]
    for check, action, reason in cases:
        verdict = check(VISITOR, action, NOW)
        assert verdict is not None and verdict.outcome is Outcome.block
        assert reason in verdict.reasons[0] and check.served == {}
