"""What tests need on the client side of the stand-in: the GitHub forge pointed at the server, on a fake clock
(`testing.clock.FakeClock`, re-exported here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitops_engine.forge.github import GitHubForge

from ..clock import FakeClock

if TYPE_CHECKING:
    from .server import FakeGitHub


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
