"""When a run stops talking to the store: a circuit breaker, a deadline and Ctrl-C in one place.

The client reports every attempt that got no answer (refused, reset, timed out, or a gateway's
502/503/504) and every answer. After `threshold` failed attempts in a row, across all workers,
the store counts as unreachable: retries in flight stop at once, no new request is sent, and
the run ends with what it has. Before the store has answered anything at all, two failures
in a row are enough: a wrong address or a store that is down fails in seconds, with its
reason, instead of after minutes of silent retries (an HTTP answer, even a 503, is contact).
A deadline and an interrupt stop a run the same way, so every sleeping retry wakes for all
three.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

DEFAULT_THRESHOLD = 10
FIRST_CONTACT_FAILURES = 2


class StopKind(StrEnum):
    UNREACHABLE = "unreachable"
    DEADLINE = "deadline"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Stop:
    """Why a run sends nothing more."""

    kind: StopKind
    message: str
    since: datetime | None = None  # the first attempt of the run of failures, when unreachable


@dataclass(frozen=True)
class RetryNotice:
    """One request about to be sent again."""

    request: str  # "PUT /customers/5"
    attempt: int  # the failed attempts so far
    retries: int  # the retries allowed in all
    wait: float  # seconds before the next attempt
    reason: str


def format_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def parse_duration(text: str) -> float:
    """Seconds in `90`, `90s`, `15m` or `2h`; ValueError otherwise."""
    text = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], 0)
    number = text[:-1] if scale else text
    value = float(number)  # ValueError for junk
    seconds = value * (scale or 1)
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(text)
    return seconds


class Breaker:
    """Shared by every thread of one client; the counts change under one lock (`halt`, which a
    signal handler calls, takes none)."""

    def __init__(
        self,
        threshold: int = DEFAULT_THRESHOLD,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = max(1, threshold)
        self.clock = clock
        self.deadline_seconds = deadline
        self.deadline_at: float | None = None
        self.start_deadline()
        self.on_retry: Callable[[RetryNotice], None] | None = None
        self._lock = threading.Lock()
        self._woken = threading.Event()
        self._stop: Stop | None = None
        self._failures = 0
        self._since: datetime | None = None
        self._reached = False
        self._unconnected = 0

    def start_deadline(self) -> None:
        """Count the deadline from now (apply: once the plan is approved and sending starts)."""
        if self.deadline_seconds:
            self.deadline_at = self.clock() + self.deadline_seconds

    @property
    def stopped(self) -> Stop | None:
        """Why nothing more is sent, or None while the run goes on."""
        if self._stop is None and self.deadline_at is not None and self.clock() >= self.deadline_at:
            assert self.deadline_seconds is not None
            self.halt(
                StopKind.DEADLINE,
                f"the deadline of {format_duration(self.deadline_seconds)} (--deadline) passed",
            )
        return self._stop

    def answered(self) -> None:
        with self._lock:
            self._failures = 0
            self._since = None
            self._reached = True
            self._unconnected = 0

    def failed(self, reason: str, connecting: bool = False) -> None:
        """An attempt without an answer; `connecting`: no connection was made at all (refused,
        unresolvable, TLS, connect timeout), which alone fails a first contact fast."""
        with self._lock:
            self._failures += 1
            self._since = self._since or datetime.now(UTC)
            if connecting and not self._reached:
                self._unconnected += 1
            if self._stop is not None:
                return
            if self._unconnected >= FIRST_CONTACT_FAILURES:
                message = f"cannot reach the store: {reason}"
            elif self._failures >= self.threshold:
                message = (
                    f"the store is unreachable since {self._since:%H:%M:%S} UTC"
                    f" ({self._failures} attempts in a row got no answer; the last: {reason})"
                )
            else:
                return
            self._stop = Stop(StopKind.UNREACHABLE, message, self._since)
        self._woken.set()

    def halt(self, kind: StopKind, message: str) -> None:
        """Stop the run (an interrupt, the deadline); the first reason given is kept.

        Takes no lock: Ctrl-C calls it from a signal handler, which runs in the main thread,
        possibly while that thread holds the breaker's lock (an answer being counted). One
        assignment is atomic; a failure recorded at the same instant may replace the reason,
        and the run stops either way."""
        if self._stop is None:
            self._stop = Stop(kind, message)
        self._woken.set()

    def retrying(self, notice: RetryNotice) -> None:
        if self.on_retry is not None:
            self.on_retry(notice)

    def wait(self, seconds: float) -> Stop | None:
        """Sleep before a retry, waking early when the run stops; why it stopped, if it did."""
        if seconds > 0:
            if self.deadline_at is not None:
                seconds = min(seconds, max(0.0, self.deadline_at - self.clock()))
            self._woken.wait(seconds)
        return self.stopped
