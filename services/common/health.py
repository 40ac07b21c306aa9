"""What each background loop tells readiness: alive, working, retrying or stuck, and why."""

from __future__ import annotations

import time

from services.common.errors import is_transient, safe_text

STALL_S = 60.0  # a loop that has not completed a cycle for this long is stuck, whatever it says
QUIET_S = 30.0  # a retrying loop with no failure for this long has recovered


class LoopHealth:
    """Updated by one loop thread, read by the readiness probe. Plain attributes: a torn read only
    ever shows the previous state of one field."""

    def __init__(self, name: str):
        self.name = name
        self.state = "starting"  # starting, running, retrying, stopped
        self.assigned = False
        self.failures = 0  # consecutive failed cycles
        self.bugs = 0  # consecutive failed cycles whose cause was not a dependency outage
        self.last_error: str | None = None
        self.last_ok = self.last_failure = time.monotonic()

    def polled(self, assigned: bool, progressed: bool) -> None:
        """A cycle ended without error. An empty poll right after a failure (the consumer rejoining) is
        not a recovery: the failed batch comes back next, so the loop stays `retrying` until it is
        processed, or until a quiet spell shows the failure is gone."""
        self.assigned = assigned
        if progressed or not self.failures or time.monotonic() - self.last_failure > QUIET_S:
            self.ok()

    def ok(self) -> None:
        self.state, self.failures, self.bugs, self.last_ok = "running", 0, 0, time.monotonic()

    def failed(self, exc: BaseException, transient: bool) -> None:
        self.state, self.last_failure = "retrying", time.monotonic()
        self.failures += 1
        self.bugs = 0 if transient else self.bugs + 1
        self.last_error = safe_text(f"{type(exc).__name__}: {exc}", 300)

    def survive(self, exc: BaseException, max_bugs: int) -> float | None:
        """Record a failed cycle of a loop whose state is in the database: how long to wait before the next,
        or None when only a fresh process can help."""
        self.failed(exc, is_transient(exc))
        return None if self.hopeless(max_bugs) else self.backoff_s()

    def stopped(self) -> None:
        self.state = "stopped"

    def hopeless(self, max_bugs: int) -> bool:
        """The same non-dependency failure again and again: only a fresh process can help."""
        return self.bugs >= max_bugs

    def backoff_s(self) -> float:
        """Short while a dependency is out (it is back the moment it is back), longer for a repeated bug."""
        return min(30.0 if self.bugs else 4.0, 0.5 * 2 ** min(self.failures, 6))

    def ready(self) -> bool:
        return self.state == "running" and time.monotonic() - self.last_ok < STALL_S

    def report(self) -> dict:
        return {"state": self.state if time.monotonic() - self.last_ok < STALL_S or self.state != "running"
                else "stalled", "failures": self.failures, "last_error": self.last_error,
                "seconds_since_ok": round(time.monotonic() - self.last_ok, 1)}
