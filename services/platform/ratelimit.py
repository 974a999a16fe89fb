"""Per-account rate limits, kept in Redis so every process of a service shares them.

A limit allows ``requests`` actions per subject (an account id, a folded username) in a fixed
window of ``window_seconds`` that starts with the subject's first action, as Rack::Attack (and so
Mastodon) counts. Over the limit, ``hit`` raises ``ResourceExhausted`` with the time left in the
window; the gateway answers it as 429 with ``Retry-After``. The Redis counter expires with its
window, so an idle subject costs nothing.

Use: build one ``RedisRateLimiter`` per limit in the service's ``wiring.py``, from
``Limits.from_settings``, and hand it to the domain service, which calls
``await limiter.hit(str(subject))`` before the action; domain code depends on the
``RateLimiter`` Protocol only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, cast

from services.platform.errors import ResourceExhausted
from services.platform.resp import RespClient, Script
from services.platform.settings import Settings

KEY_PREFIX = "ratelimit"

# One round trip, atomic: count the action, start the window on the first one, and return the
# count with the time left (a key left without expiry, which should not happen, is given one).
_HIT = Script("""
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
""")


@dataclass(frozen=True)
class Limit:
    """At most ``requests`` of an action per subject in ``window_seconds``."""

    name: str  # the Redis key part, e.g. "posts"
    action: str  # what the caller is told they did too often, e.g. "posts"
    requests: int
    window_seconds: int


@dataclass(frozen=True)
class Limits:
    """Every per-account limit the services enforce, from the settings."""

    sign_ins: Limit
    posts: Limit
    follows: Limit
    uploads: Limit
    video_uploads: Limit
    mastodon_requests: Limit

    @property
    def by_account(self) -> tuple[Limit, ...]:
        """The limits counted per account id (sign-ins count per username, the Mastodon API's
        requests per token)."""
        return (self.posts, self.follows, self.uploads, self.video_uploads)

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            sign_ins=Limit(
                "sign_ins",
                "log-in attempts for this username",
                settings.limits.sign_ins,
                settings.limits.sign_in_window_seconds,
            ),
            posts=Limit(
                "posts",
                "posts",
                settings.limits.posts,
                settings.limits.post_window_seconds,
            ),
            follows=Limit(
                "follows",
                "follows",
                settings.limits.follows,
                settings.limits.follow_window_seconds,
            ),
            uploads=Limit(
                "uploads",
                "uploads",
                settings.limits.uploads,
                settings.limits.upload_window_seconds,
            ),
            video_uploads=Limit(
                "video_uploads",
                "video uploads",
                settings.limits.video_uploads,
                settings.limits.video_upload_window_seconds,
            ),
            mastodon_requests=Limit(
                "mastodon_requests",
                "requests to the Mastodon API",
                settings.limits.mastodon_requests,
                settings.limits.mastodon_request_window_seconds,
            ),
        )


@dataclass(frozen=True)
class Usage:
    """A subject's actions in the current window (the one just counted included), and the
    seconds until the window ends."""

    used: int
    reset_seconds: float


class RateLimiter(Protocol):
    async def hit(self, subject: str) -> None:
        """Counts one action by ``subject``; raises ``ResourceExhausted`` once over the limit."""
        ...

    async def forget(self, subject: str) -> None:
        """Drops ``subject``'s count (a deleted account's)."""
        ...


def exhausted(limit: Limit, retry_after_seconds: float) -> ResourceExhausted:
    """The error for a subject over ``limit``, retryable after at least a whole second."""
    wait = max(1, math.ceil(retry_after_seconds))
    return ResourceExhausted(
        f"too many {limit.action}: at most {limit.requests} per {limit.window_seconds} s; "
        f"retry in {wait} s",
        retry_after_seconds=wait,
    )


def redis_key(limit: Limit, subject: str) -> str:
    return f"{KEY_PREFIX}:{limit.name}:{subject}"


class RedisRateLimiter:
    """``RateLimiter`` on Redis: one counter per subject, expiring with its window."""

    def __init__(self, redis: RespClient, limit: Limit) -> None:
        self._redis = redis
        self.limit = limit

    async def hit(self, subject: str) -> None:
        usage = await self.count(subject)
        if usage.used > self.limit.requests:
            raise exhausted(self.limit, usage.reset_seconds)

    async def forget(self, subject: str) -> None:
        await self._redis.call("DEL", redis_key(self.limit, subject))

    async def count(self, subject: str) -> Usage:
        """Counts one action by ``subject`` and tells where the window stands, refusing
        nothing (for a caller that answers the limit itself, as the Mastodon API does)."""
        key = redis_key(self.limit, subject)
        count, ttl_ms = cast(
            "list[int]", await self._redis.run(_HIT, [key], [self.limit.window_seconds * 1000])
        )
        return Usage(count, ttl_ms / 1000)
