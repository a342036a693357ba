"""When a failed delivery is tried again: tenacity's wait and stop strategies, persisted.

A retry of an outbox message is not a loop in one process: the attempt count lives in the row
and the next try is a row becoming due (`next_attempt_at`), so a crash or a restart loses no
schedule and any dispatcher may make the next attempt. tenacity still decides the numbers: a
`RetryCallState` is rebuilt from the row (attempt number, the exception that failed it) and
handed to the same wait/stop objects `tenacity.Retrying` would use in-process.

Adapters never retry inside a send: one call per claim keeps a send within its lease (see
tools/dispatcher.py), so two dispatchers cannot both be mid-call for one message.

Example:
    >>> from tools.channels.base import TransientSendError
    >>> schedule = RetrySchedule(max_attempts=8, base_s=2.0, cap_s=600.0)
    >>> 1.0 <= schedule.wait_s(1, TransientSendError("HTTP 503")) <= 2.0
    True
    >>> schedule.wait_s(1, TransientSendError("HTTP 429", retry_after=30.0))
    30.0
    >>> schedule.gives_up(8)
    True
"""

from __future__ import annotations

from tenacity import (
    RetryCallState,
    Retrying,
    stop_after_attempt,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.wait import wait_base

__all__ = ["RetrySchedule", "wait_at_least_retry_after"]


class wait_at_least_retry_after(wait_base):  # lower case: tenacity's naming for strategies
    """`inner`'s wait, but never less than the provider's Retry-After on the failed attempt.

    The hint is the `retry_after` attribute of the exception in the call state's outcome
    (`TransientSendError` carries it); an outcome without one leaves `inner`'s wait as it is.
    """

    def __init__(self, inner: wait_base) -> None:
        self.inner = inner

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = float(self.inner(retry_state))
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        hint = getattr(error, "retry_after", None)
        return max(wait, float(hint)) if hint else wait


class RetrySchedule:
    """Exponential backoff with equal jitter, floored at Retry-After; gives up after N attempts.

    Equal jitter: half the exponential step (`base·2^(n-1)`, capped at `cap_s`) is fixed and
    the other half random, composed from tenacity's `wait_exponential` and
    `wait_random_exponential`. Messages that failed together (a provider outage) spread out
    instead of returning in waves, and no retry comes sooner than half its step.
    """

    def __init__(self, *, max_attempts: int, base_s: float, cap_s: float) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts: must be at least 1")
        if base_s <= 0 or cap_s < base_s:
            raise ValueError("base_s, cap_s: need 0 < base_s <= cap_s")
        half_step = wait_exponential(multiplier=base_s / 2, max=cap_s / 2)
        jitter = wait_random_exponential(multiplier=base_s / 2, max=cap_s / 2)
        self.retrying = Retrying(
            wait=wait_at_least_retry_after(half_step + jitter),
            stop=stop_after_attempt(max_attempts),
            reraise=True,
        )

    def _state(self, attempts: int, error: BaseException | None) -> RetryCallState:
        state = RetryCallState(self.retrying, fn=None, args=(), kwargs={})
        state.attempt_number = max(1, attempts)
        if error is not None:
            state.set_exception((type(error), error, error.__traceback__))
        return state

    def wait_s(self, attempts: int, error: BaseException | None = None) -> float:
        """Seconds to wait after the `attempts`-th failed attempt, which raised `error`."""
        return float(self.retrying.wait(self._state(attempts, error)))

    def gives_up(self, attempts: int) -> bool:
        """Whether `attempts` failed attempts are the last the schedule allows."""
        return bool(self.retrying.stop(self._state(attempts, None)))
