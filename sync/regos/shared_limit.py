"""One REGOS rate limit for every process and machine that uses the same integration key.

REGOS allows about 2 requests/s with a burst of 50 *per key*. ``sync.regos.ratelimit.TokenBucket``
paces one process; with several django-q2 workers (or several machines) each process would spend
the whole budget on its own and REGOS would refuse the excess (``ok:false`` error 8213). The
limiters here keep the bucket where every process sees it:

* ``RedisTokenBucket`` — a hash in Redis updated by one Lua script (refill + take in a single atomic
  step, on the Redis server's clock, so machines with skewed clocks still agree);
* ``DatabaseTokenBucket`` — a ``RateLimitBucket`` row claimed by a conditional update on its
  ``version`` (no transactions or row locks: it works the same on SQLite and MongoDB).

Both implement ``sync.regos.ratelimit.RateLimiter`` with the same semantics as ``TokenBucket``:
``acquire`` *reserves* a token and lets the balance go negative, so callers in different processes
are handed consecutive future slots ``1 / rate`` apart and then sleep until their slot, without
polling. ``penalize`` (after an 8213 / 429) drains the shared bucket so that every process waits.

The bucket is keyed by the SHA-256 of the integration key; the key itself is never stored, logged
or put in an error message.

``limiter_for_settings()`` picks the limiter from the settings (``REGOS_RATE_LIMIT_STORE``:
``auto`` = Redis when ``REDIS_URL`` is set, else the database; or ``redis`` / ``database`` /
``process``) and keeps ``SAFETY_TOKENS`` of REGOS's burst unused: our bucket and REGOS's are two
clocks apart by network latency and scheduling jitter, and pacing at *exactly* the limit would let
a request that was delayed arrive together with the next one while REGOS's bucket holds a single
token. A two-token cushion absorbs a second of such jitter at 2 requests/s.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from sync.regos.errors import RegosTransportError
from sync.regos.ratelimit import BucketLimiter, key_fingerprint, shared_limiter

log = logging.getLogger("sync.regos")

# Below this a computed wait is floating-point noise, not a real wait.
_EPSILON_S = 1e-9
REDIS_KEY_PREFIX = "regos-admin:ratelimit:"
SAFETY_TOKENS = 2
STORES = ("auto", "redis", "database", "process")


class SharedLimiterUnavailable(RegosTransportError):  # noqa: N818 — reads as a state, like its siblings
    """The store that holds the shared bucket (Redis or the database) could not be used."""

    hint = (
        "The shared REGOS rate limit could not be read: check that Redis (REDIS_URL) or the database "
        "is reachable from this worker, or set REGOS_RATE_LIMIT_STORE=process on a single-worker install."
    )


def effective_burst(burst: int) -> int:
    """REGOS's burst minus the safety cushion (never below 1; small bursts keep at least 3/4)."""
    return max(1, int(burst) - min(SAFETY_TOKENS, int(burst) // 4))


def _validate(rate_per_sec: float, burst: int) -> None:
    if rate_per_sec <= 0:
        raise ValueError("rate_per_sec must be positive")
    if burst < 1:
        raise ValueError("burst must be at least 1")


# --- the database ------------------------------------------------------------------------------


class DatabaseTokenBucket:
    """A token bucket in one ``RateLimitBucket`` row, shared by every process using the database.

    Each ``acquire``/``penalize`` reads the row, computes the refilled balance and writes it back
    with ``filter(key=..., version=v).update(..., version=v + 1)``; zero updated rows means another
    process won the race, and the claim is retried on the fresh row after a short random pause.
    Time is the wall clock (``time.time``), the only clock processes on different machines share; a
    clock that is behind never refills the bucket twice (the stamp only moves forward).

    Do not call it inside ``transaction.atomic`` on SQLite: the claim would hold the database's
    write lock until the outer transaction ends.
    """

    def __init__(self, key: str, *, rate_per_sec: float, burst: int, using: str = "default",
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 max_conflicts: int = 10_000) -> None:
        if not key:
            raise ValueError("the REGOS integration key is empty")
        _validate(rate_per_sec, burst)
        self.bucket_key = key_fingerprint(key)
        self.rate_per_sec = float(rate_per_sec)
        self.burst = int(burst)
        self.using = using
        self._clock = clock
        self._sleep = sleep
        self._max_conflicts = int(max_conflicts)
        self.conflicts = 0  # lost claims (for tests and diagnostics)

    def __repr__(self) -> str:
        return (f"DatabaseTokenBucket(bucket={self.bucket_key[:12]}…, rate_per_sec={self.rate_per_sec}, "
                f"burst={self.burst}, using={self.using!r})")

    def acquire(self) -> float:
        def take(tokens: float) -> tuple[float, float]:
            tokens -= 1.0
            return tokens, (-tokens / self.rate_per_sec if tokens < 0 else 0.0)

        wait = self._claim(take)
        if wait <= _EPSILON_S:
            return 0.0
        self._sleep(wait)
        return wait

    def penalize(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self._claim(lambda tokens: (min(tokens, 1.0 - seconds * self.rate_per_sec), 0.0))

    def available(self) -> float:
        """Tokens available now (negative while callers hold reserved slots or after a penalty)."""
        row = self._load()
        if row is None:
            return float(self.burst)
        return self._refill(row[0], row[1], self._clock())[0]

    def reset(self) -> None:
        """Forget the bucket (it is re-created full on the next use)."""
        from sync.models import RateLimitBucket

        RateLimitBucket.objects.using(self.using).filter(key=self.bucket_key).delete()

    # --- internals ---

    def _refill(self, tokens: float, stamp: float, now: float) -> tuple[float, float]:
        if now > stamp:
            tokens = min(float(self.burst), tokens + (now - stamp) * self.rate_per_sec)
            stamp = now
        # A lower burst configured since the row was written applies at once.
        return min(tokens, float(self.burst)), stamp

    def _load(self) -> tuple[float, float, int] | None:
        from sync.models import RateLimitBucket

        return (RateLimitBucket.objects.using(self.using).filter(key=self.bucket_key)
                .values_list("tokens", "stamp", "version").first())

    def _create(self) -> None:
        from django.db import IntegrityError

        from sync.models import RateLimitBucket

        # Another process may create it first: fine, the claim then runs on its row.
        with contextlib.suppress(IntegrityError):
            RateLimitBucket.objects.using(self.using).create(
                key=self.bucket_key, tokens=float(self.burst), stamp=self._clock(), version=0)

    def _claim(self, operation: Callable[[float], tuple[float, float]]) -> float:
        from django.db import DatabaseError

        from sync.models import RateLimitBucket

        lost = 0
        while True:
            try:
                row = self._load()
                if row is None:
                    self._create()
                    continue
                tokens, stamp, version = row
                tokens, stamp = self._refill(float(tokens), float(stamp), self._clock())
                tokens, wait = operation(tokens)
                won = RateLimitBucket.objects.using(self.using).filter(
                    key=self.bucket_key, version=version,
                ).update(tokens=tokens, stamp=stamp, version=version + 1)
            except DatabaseError as exc:
                raise SharedLimiterUnavailable(
                    f"the shared REGOS rate limit in the database failed: {exc.__class__.__name__}: {exc}"
                ) from exc
            if won:
                return wait
            lost += 1
            self.conflicts += 1
            if lost >= self._max_conflicts:
                raise SharedLimiterUnavailable(
                    f"the shared REGOS rate limit in the database: {lost} claims in a row were lost")
            # Back off a little (randomly, so contenders spread out) and retry on the fresh row.
            self._sleep(random.uniform(0.0, min(0.05, 0.001 * 2 ** min(lost, 6))))


# --- Redis ---------------------------------------------------------------------------------------

# KEYS[1] the bucket hash; ARGV: rate, burst, operation ("take" | "penalize" | "peek"), seconds.
# Returns {wait seconds, tokens after} as strings (Lua numbers become integers in Redis replies).
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local op = ARGV[3]
local seconds = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
if now > stamp then
  tokens = math.min(burst, tokens + (now - stamp) * rate)
  stamp = now
end
tokens = math.min(tokens, burst)
local wait = 0
if op == 'take' then
  tokens = tokens - 1
  if tokens < 0 then wait = -tokens / rate end
elseif op == 'penalize' then
  tokens = math.min(tokens, 1 - seconds * rate)
end
if op ~= 'peek' then
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.9f', tokens), 'stamp', string.format('%.6f', stamp))
  -- Once full again the bucket is the same as no bucket: let Redis forget it a minute later.
  redis.call('PEXPIRE', KEYS[1], math.ceil(((burst - tokens) / rate + 60) * 1000))
end
return {string.format('%.9f', wait), string.format('%.9f', tokens)}
"""


class RedisTokenBucket:
    """A token bucket in Redis (``regos-admin:ratelimit:<sha256 of the key>``), shared by every
    process and machine that uses the same Redis.

    Refill and take happen in one Lua script, atomically, on the Redis server's clock. A Redis that
    cannot be reached is retried for ``unavailable_retry_s`` seconds, then ``SharedLimiterUnavailable``
    is raised: silently falling back to a per-process bucket would break the limit for everyone.
    """

    def __init__(self, key: str, *, rate_per_sec: float, burst: int, url: str | None = None,
                 client: Any = None, sleep: Callable[[float], None] = time.sleep,
                 unavailable_retry_s: float = 10.0) -> None:
        if not key:
            raise ValueError("the REGOS integration key is empty")
        _validate(rate_per_sec, burst)
        if client is None:
            if not url:
                raise ValueError("RedisTokenBucket needs a Redis url or client")
            import redis

            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5,
                                          health_check_interval=30)
        self.redis_key = REDIS_KEY_PREFIX + key_fingerprint(key)
        self.rate_per_sec = float(rate_per_sec)
        self.burst = int(burst)
        self._redis = client
        self._script = client.register_script(_LUA)
        self._sleep = sleep
        self._unavailable_retry_s = float(unavailable_retry_s)

    def __repr__(self) -> str:
        return (f"RedisTokenBucket(bucket={self.redis_key[len(REDIS_KEY_PREFIX):][:12]}…, "
                f"rate_per_sec={self.rate_per_sec}, burst={self.burst})")

    def acquire(self) -> float:
        wait, _tokens = self._run("take")
        if wait <= _EPSILON_S:
            return 0.0
        self._sleep(wait)
        return wait

    def penalize(self, seconds: float) -> None:
        if seconds > 0:
            self._run("penalize", seconds)

    def available(self) -> float:
        return self._run("peek")[1]

    def reset(self) -> None:
        self._redis.delete(self.redis_key)

    def _run(self, op: str, seconds: float = 0.0) -> tuple[float, float]:
        import redis

        deadline = time.monotonic() + self._unavailable_retry_s
        pause = 0.1
        while True:
            try:
                args = [repr(self.rate_per_sec), self.burst, op, repr(float(seconds))]
                wait, tokens = self._script(keys=[self.redis_key], args=args)
                return float(wait), float(tokens)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if time.monotonic() + pause > deadline:
                    raise SharedLimiterUnavailable(
                        f"the shared REGOS rate limit in Redis is unreachable (REDIS_URL): "
                        f"{exc.__class__.__name__}") from exc
                log.warning("shared REGOS rate limit: Redis unreachable (%s); retrying in %.1f s",
                            exc.__class__.__name__, pause)
                self._sleep(pause)
                pause = min(2.0, pause * 2)
            except redis.RedisError as exc:
                raise SharedLimiterUnavailable(
                    f"the shared REGOS rate limit in Redis failed: {exc.__class__.__name__}: {exc}") from exc


# --- from the settings ---------------------------------------------------------------------------

_cache: dict[tuple[Any, ...], BucketLimiter] = {}
_cache_lock = threading.Lock()


def limiter_store(settings_obj: Any = None) -> str:
    """Where the bucket lives with these settings: ``redis``, ``database`` or ``process``."""
    if settings_obj is None:
        from django.conf import settings

        settings_obj = settings
    store = getattr(settings_obj, "REGOS_RATE_LIMIT_STORE", "auto") or "auto"
    if store not in STORES:
        raise ValueError(f"REGOS_RATE_LIMIT_STORE must be one of {', '.join(STORES)}")
    redis_url = getattr(settings_obj, "REDIS_URL", "")
    if store == "auto":
        return "redis" if redis_url else "database"
    if store == "redis" and not redis_url:
        raise ValueError("REGOS_RATE_LIMIT_STORE=redis needs REDIS_URL")
    return store


def limiter_for_settings(*, key: str | None = None, rate_per_sec: float | None = None,
                         burst: int | None = None) -> BucketLimiter:
    """The limiter every REGOS client of this deployment should use for ``key``.

    Defaults come from ``settings`` (``REGOS_INTEGRATION_KEY``, ``REGOS_RATE_PER_SEC``,
    ``REGOS_BURST``, ``REDIS_URL``, ``REGOS_RATE_LIMIT_STORE``). Shared stores keep
    ``SAFETY_TOKENS`` of the burst unused (see the module docstring). Instances are cached per
    process, so the Redis connection pool is reused.
    """
    from django.conf import settings

    key = settings.REGOS_INTEGRATION_KEY if key is None else key
    rate = float(settings.REGOS_RATE_PER_SEC if rate_per_sec is None else rate_per_sec)
    capacity = int(settings.REGOS_BURST if burst is None else burst)
    if not key:
        raise ValueError("the REGOS integration key is empty")
    store = limiter_store(settings)
    if store == "process":
        return shared_limiter(key, rate_per_sec=rate, burst=capacity)
    capacity = effective_burst(capacity)
    fingerprint = key_fingerprint(key)
    if store == "redis":
        cache_key: tuple[Any, ...] = ("redis", settings.REDIS_URL, fingerprint, rate, capacity)
    else:
        cache_key = ("database", "default", fingerprint, rate, capacity)
    with _cache_lock:
        limiter = _cache.get(cache_key)
        if limiter is None:
            if store == "redis":
                limiter = RedisTokenBucket(key, rate_per_sec=rate, burst=capacity, url=settings.REDIS_URL)
            else:
                limiter = DatabaseTokenBucket(key, rate_per_sec=rate, burst=capacity)
            _cache[cache_key] = limiter
    return limiter


def reset_limiter_cache() -> None:
    """Forget the cached limiters (tests)."""
    with _cache_lock:
        _cache.clear()
