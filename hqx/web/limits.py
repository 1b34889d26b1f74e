"""Pace per client address on the portal's doors (sign-in links, upload links): one-time
tokens are 256-bit, so guessing is hopeless, but a flood still costs database reads; a client
past its pace gets 429 with ``Retry-After`` and nothing is read.

A sliding window per address, in memory: one process serves the portal (the database
lease). Addresses are forgotten once their window is empty; at most :data:`TRACKED`
addresses are kept (the oldest forgotten first), so memory stays bounded under any flood.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

TRACKED = 10_000


@dataclass(slots=True)
class Pace:
    """At most ``requests`` per ``window_sec`` from one address."""

    requests: int = 20
    window_sec: float = 60.0
    _seen: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def wait(self, address: str, now: float | None = None) -> int:
        """Seconds ``address`` must wait (0: go on, and it is counted)."""
        moment = time.monotonic() if now is None else now
        times = self._seen.pop(address, None) or deque()
        while times and times[0] <= moment - self.window_sec:
            times.popleft()
        if len(times) >= self.requests:
            self._seen[address] = times
            return max(1, math.ceil(times[0] + self.window_sec - moment))
        times.append(moment)
        self._seen[address] = times
        while len(self._seen) > TRACKED:
            self._seen.popitem(last=False)
        return 0
