"""Client-side pacing for the REGOS API: a token bucket per integration key.

REGOS limits each integration key to a token bucket of about 2 requests/second with a burst of 50;
requests over the limit are refused (``ok:false`` error 8213, or HTTP 429 on older gateways). We
pace ourselves with the same kind of bucket so a sync rarely hits the server's limit, and drain it
(``penalize``) when the server says we went too fast anyway.

The limit belongs to the key, not to a client object, so every client in the process that uses the
same key shares one bucket (``shared_limiter``). The registry is keyed by the SHA-256 of the key so
the raw secret is never kept here. Limiters shared across processes (database, Redis) can be added
later: anything that implements ``RateLimiter`` can be passed to ``RegosClient(limiter=...)``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

# Below this a computed wait is floating-point noise, not a real wait.
_EPSILON_S = 1e-9


@runtime_checkable
class RateLimiter(Protocol):
    """What ``RegosClient`` needs from a limiter."""

    def acquire(self) -> float:
        """Block until one request may be sent; return the seconds spent waiting."""
        ...

    def penalize(self, seconds: float) -> None:
        """The server refused a request as too fast: let no request through for ``seconds``."""
        ...


class BucketLimiter(RateLimiter, Protocol):
    """A ``RateLimiter`` that is a token bucket, whose capacity and balance can be read (``regos_check``
    reports them). ``TokenBucket`` and the shared buckets are; ``UnlimitedLimiter`` is not."""

    @property
    def burst(self) -> int: ...

    def available(self) -> float:
        """Tokens available now (negative while callers are queued or after a penalty)."""
        ...


class TokenBucket:
    """Thread-safe token bucket: ``rate_per_sec`` refill, ``burst`` capacity, starts full.

    ``acquire`` reserves a token under the lock and sleeps outside it, letting the balance go
    negative: a negative balance is the queue of callers already promised a future token, so
    concurrent callers are spaced ``1 / rate`` apart without re-checking after they wake up.
    ``clock`` (monotonic seconds) and ``sleep`` are injectable so tests run on a fake clock.
    """

    def __init__(self, rate_per_sec: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._validate(rate_per_sec, burst)
        self._rate = float(rate_per_sec)
        self._burst = int(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    @staticmethod
    def _validate(rate_per_sec: float, burst: int) -> None:
        if rate_per_sec <= 0:
            raise ValueError("rate_per_sec must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")

    @property
    def rate_per_sec(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    def available(self) -> float:
        """Tokens available now (negative while callers are queued or after a penalty)."""
        with self._lock:
            self._refill()
            return self._tokens

    def configure(self, *, rate_per_sec: float, burst: int) -> None:
        """Change rate and capacity, keeping the current balance (clamped to the new capacity)."""
        self._validate(rate_per_sec, burst)
        with self._lock:
            self._refill()
            self._rate = float(rate_per_sec)
            self._burst = int(burst)
            self._tokens = min(self._tokens, float(burst))

    def acquire(self) -> float:
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            wait = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if wait <= _EPSILON_S:
            return 0.0
        self._sleep(wait)
        return wait

    def penalize(self, seconds: float) -> None:
        # The next token becomes available ``seconds`` from now: a balance of 1 - seconds*rate
        # refills to exactly 1 token after ``seconds``.
        if seconds <= 0:
            return
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 1.0 - seconds * self._rate)

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(float(self._burst), self._tokens + elapsed * self._rate)
        self._updated = now


class UnlimitedLimiter:
    """Never waits and ignores penalties (the client still sleeps out a server-requested delay).

    For a local emulator or tests that are about something other than pacing.
    """

    def acquire(self) -> float:
        return 0.0

    def penalize(self, seconds: float) -> None:
        return None


_registry: dict[str, TokenBucket] = {}
_registry_lock = threading.Lock()


def key_fingerprint(key: str) -> str:
    """SHA-256 hex digest of an integration key: safe to keep, log or use as a cache key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def shared_limiter(key: str, *, rate_per_sec: float, burst: int) -> TokenBucket:
    """The process-wide bucket of ``key`` (created full on first use).

    A later caller asking for a different rate or burst reconfigures the shared bucket: in
    production every client reads the same settings, and in tests the latest client's wish wins
    instead of silently inheriting another test's pace.
    """
    fingerprint = key_fingerprint(key)
    with _registry_lock:
        bucket = _registry.get(fingerprint)
        if bucket is None:
            bucket = _registry[fingerprint] = TokenBucket(rate_per_sec, burst)
            return bucket
    if bucket.rate_per_sec != float(rate_per_sec) or bucket.burst != int(burst):
        bucket.configure(rate_per_sec=rate_per_sec, burst=burst)
    return bucket


def reset_shared_limiters() -> None:
    """Forget every process-wide bucket (tests)."""
    with _registry_lock:
        _registry.clear()
