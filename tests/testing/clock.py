"""Time that moves only when a test moves it (or something sleeps on it)."""

from __future__ import annotations

import time


class FakeClock:
    """Wall-clock seconds from `start` (default: now) that only move when someone sleeps or a test sets `now`
    (share it with the fake GitHub: rate-limit resets pass when the client "sleeps"). `slept` lists every wait."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds
