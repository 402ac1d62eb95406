"""What tests need on the client side of the stand-in: a fake clock, and the GitHub forge pointed at the server."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from gitops_engine.forge.github import GitHubForge

if TYPE_CHECKING:
    from .server import FakeGitHub


class FakeClock:
    """Wall-clock seconds that only move when someone sleeps (share it with the server: rate-limit resets pass
    when the client "sleeps"). `slept` lists every wait."""

    def __init__(self) -> None:
        self.now = time.time()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds


def make_forge(github: FakeGitHub, clock: FakeClock, **options: Any) -> GitHubForge:
    """The GitHub forge on the stand-in, on `clock`; writes are not spaced unless a test asks, so `stats.waits`
    shows only rate limits."""
    options.setdefault("min_write_interval", 0.0)
    return GitHubForge(
        github.repository,
        github.token,
        api_url=github.api_url,
        sleep=clock.sleep,
        clock=clock,
        jitter=lambda: 0.5,
        **options,
    )
