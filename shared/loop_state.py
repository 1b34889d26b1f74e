"""A receive loop's state, as ``/healthz`` and ``/metrics`` report it."""

from __future__ import annotations

import time

from shared.clock import utcnow

# A receive loop restarted after a failure is running again once it lasts this long.
HEALTHY_AFTER_SEC = 60.0


class LoopState:
    """A receive loop as operators see it: running, failing (since when, why), stopped, or
    waiting: another process receives (``standby``: this one takes over when it dies;
    ``elsewhere``: this process does not receive at all)."""

    def __init__(self) -> None:
        self.status = "starting"
        self.reason = ""
        self.since = utcnow()
        self._restarted = time.monotonic()

    def started(self) -> None:
        self._restarted = time.monotonic()
        if self.status in ("starting", "standby"):
            self.status, self.reason, self.since = "running", "", utcnow()

    def waiting(self, status: str, reason: str) -> None:
        self.status, self.reason, self.since = status, reason, utcnow()

    def failed(self, reason: str) -> None:
        if self.status != "failing":
            self.status, self.since = "failing", utcnow()
        self.reason = reason

    def stopped(self, reason: str) -> None:
        self.status, self.reason, self.since = "stopped", reason, utcnow()

    def current(self) -> str:
        """The status now: a failing loop that has run a while since is running again."""
        if self.status == "failing" and time.monotonic() - self._restarted > HEALTHY_AFTER_SEC:
            self.status, self.reason, self.since = "running", "", utcnow()
        return self.status
