"""A sliding-window limiter for public entry points (login now, the public
self-report form later). In memory, per process: enough for one server
process; several processes behind a balancer each count on their own."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from datetime import timedelta

from fangkong import clock


class SlidingWindowLimiter:
    def __init__(self, max_events: int, window: timedelta) -> None:
        self.max_events = max_events
        self.window = window
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        events = self._events[key]
        horizon = now - self.window.total_seconds()
        while events and events[0] <= horizon:
            events.popleft()
        return events

    def blocked(self, key: str) -> bool:
        """Whether ``key`` has used up its events in the current window."""
        with self._lock:
            return len(self._prune(key, clock.now().timestamp())) >= self.max_events

    def record(self, key: str) -> None:
        with self._lock:
            now = clock.now().timestamp()
            self._prune(key, now).append(now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
