"""A stopwatch for per-stage timings in job logs (speed is measured in bench/, never asserted)."""

from __future__ import annotations

import time


class Stopwatch:
    """Seconds per stage: ``lap("stage")`` records the time since the previous lap (or the start)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        """Record the seconds since the last lap under ``stage``."""
        now = time.perf_counter()
        self.laps[stage] = round(now - self._last, 2)
        self._last = now
