"""The shared REGOS token buckets in one process: database (conditional update) and Redis (Lua).

Several instances on the same store stand in for several processes here; the real multi-process test
against the emulator is ``test_shared_limit_processes.py``.
"""

from __future__ import annotations

import hashlib

import pytest

from sync.models import RateLimitBucket
from sync.regos.ratelimit import RateLimiter, TokenBucket, reset_shared_limiters
from sync.regos.shared_limit import (
    REDIS_KEY_PREFIX,
    DatabaseTokenBucket,
    RedisTokenBucket,
    SharedLimiterUnavailable,
    effective_burst,
    limiter_for_settings,
    limiter_store,
    reset_limiter_cache,
)
from tests.fixtures.redis import redis_server, redis_url  # noqa: F401 — fixtures
from tests.regos_client_support import FakeClock

KEY = "shared0limit0test0key0000000001"
OTHER_KEY = "shared0limit0test0key0000000002"


START = 1_800_000_000.0  # a realistic unix time: the bucket row stores the clock's readings


@pytest.fixture(autouse=True)
def _fresh_caches():
    reset_limiter_cache()
    reset_shared_limiters()
    yield
    reset_limiter_cache()
    reset_shared_limiters()


# --- database ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_database_bucket_bursts_then_paces_at_the_rate():
    clock = FakeClock(START)
    bucket = DatabaseTokenBucket(KEY, rate_per_sec=2, burst=3, clock=clock, sleep=clock.sleep)

    waits = [bucket.acquire() for _ in range(5)]

    assert waits == [0.0, 0.0, 0.0, 0.5, 0.5]
    row = RateLimitBucket.objects.get()
    assert row.key == hashlib.sha256(KEY.encode()).hexdigest()
    assert row.version == 5


@pytest.mark.django_db
def test_database_bucket_is_shared_by_instances_and_keyed_by_integration_key():
    clock = FakeClock(START)
    first = DatabaseTokenBucket(KEY, rate_per_sec=2, burst=2, clock=clock, sleep=clock.sleep)
    second = DatabaseTokenBucket(KEY, rate_per_sec=2, burst=2, clock=clock, sleep=clock.sleep)
    other_key = DatabaseTokenBucket(OTHER_KEY, rate_per_sec=2, burst=2, clock=clock, sleep=clock.sleep)

    assert [first.acquire(), second.acquire()] == [0.0, 0.0]
    # The bucket is empty for both "processes"; the next two callers get consecutive slots.
    assert first.acquire() == 0.5
    assert second.acquire() == 0.5
    assert other_key.acquire() == 0.0  # another key has its own budget
    assert RateLimitBucket.objects.count() == 2
    assert not RateLimitBucket.objects.filter(key__contains="shared0limit").exists()


@pytest.mark.django_db
def test_database_bucket_refills_up_to_the_burst_and_penalize_drains_it():
    clock = FakeClock(START)
    bucket = DatabaseTokenBucket(KEY, rate_per_sec=2, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()
    clock.now += 100
    assert bucket.available() == 3.0

    bucket.penalize(5)  # REGOS said "too fast": nothing for 5 s, for every process
    assert bucket.available() == pytest.approx(1 - 5 * 2)
    other = DatabaseTokenBucket(KEY, rate_per_sec=2, burst=3, clock=clock, sleep=clock.sleep)
    assert other.acquire() == pytest.approx(5.0)


@pytest.mark.django_db
def test_database_bucket_retries_a_claim_lost_to_another_process():
    clock = FakeClock(START)
    winner = DatabaseTokenBucket(KEY, rate_per_sec=2, burst=3, clock=clock, sleep=clock.sleep)
    winner.acquire()  # the row exists

    interfered = []

    def racing_clock() -> float:
        # Between our read of the row and our conditional update, another process claims a token.
        if not interfered:
            interfered.append(True)
            winner.acquire()
        return clock.now

    loser = DatabaseTokenBucket(KEY, rate_per_sec=2, burst=3, clock=racing_clock, sleep=clock.sleep)
    assert loser.acquire() == 0.0

    assert loser.conflicts == 1
    row = RateLimitBucket.objects.get()
    # Three tokens taken in total, none lost or double-spent (the retry's short pause refilled a hair).
    assert row.tokens == pytest.approx(0.0, abs=0.2)
    assert row.version == 3


@pytest.mark.django_db
def test_database_bucket_never_refills_from_a_clock_that_is_behind():
    ahead = FakeClock(1_800_000_100.0)
    behind = FakeClock(1_800_000_000.0)
    first = DatabaseTokenBucket(KEY, rate_per_sec=2, burst=2, clock=ahead, sleep=ahead.sleep)
    second = DatabaseTokenBucket(KEY, rate_per_sec=2, burst=2, clock=behind, sleep=behind.sleep)
    first.acquire()
    first.acquire()

    # 100 s "earlier" on the other machine's clock: no refill, so it must wait for a slot.
    assert second.acquire() == 0.5
    assert RateLimitBucket.objects.get().stamp == ahead.now


# --- Redis ---------------------------------------------------------------------------------------


def test_redis_bucket_bursts_then_hands_out_consecutive_slots(redis_url):  # noqa: F811
    slept: list[float] = []
    first = RedisTokenBucket(KEY, rate_per_sec=2, burst=3, url=redis_url, sleep=slept.append)
    second = RedisTokenBucket(KEY, rate_per_sec=2, burst=3, url=redis_url, sleep=slept.append)

    waits = [first.acquire(), second.acquire(), first.acquire(), second.acquire(), first.acquire()]

    assert waits[:3] == [0.0, 0.0, 0.0]
    # Redis's own clock moved a little between the calls, so the slots are a hair shorter.
    assert waits[3] == pytest.approx(0.5, abs=0.05)
    assert waits[4] == pytest.approx(1.0, abs=0.05)
    assert slept == waits[3:]


def test_redis_bucket_penalize_and_key_hygiene(redis_url):  # noqa: F811
    import redis

    bucket = RedisTokenBucket(KEY, rate_per_sec=2, burst=5, url=redis_url, sleep=lambda s: None)
    bucket.acquire()
    bucket.penalize(3)
    assert bucket.available() == pytest.approx(1 - 3 * 2, abs=0.05)
    assert RedisTokenBucket(OTHER_KEY, rate_per_sec=2, burst=5, url=redis_url).available() == 5.0

    client = redis.Redis.from_url(redis_url)
    keys = [k.decode() for k in client.keys("*")]
    assert keys == [REDIS_KEY_PREFIX + hashlib.sha256(KEY.encode()).hexdigest()]
    assert 0 < client.pttl(keys[0]) <= (5 - (1 - 6)) / 2 * 1000 + 60_000
    client.close()


def test_redis_bucket_unreachable_raises_a_clear_error_without_the_key():
    with socket_closed_port() as port:
        bucket = RedisTokenBucket(KEY, rate_per_sec=2, burst=5, url=f"redis://127.0.0.1:{port}/0",
                                  sleep=lambda s: None, unavailable_retry_s=0.3)
        with pytest.raises(SharedLimiterUnavailable) as caught:
            bucket.acquire()
    assert "REDIS_URL" in str(caught.value)
    assert KEY not in str(caught.value) and KEY not in repr(bucket)
    assert "REDIS_URL" in str(caught.value.hint)


class socket_closed_port:  # noqa: N801 — used as a context manager
    """A port on 127.0.0.1 that nothing listens on (bound, never listening, during the block)."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return self._sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


# --- choosing the limiter from the settings ------------------------------------------------------


def test_effective_burst_keeps_a_small_cushion():
    assert effective_burst(50) == 48
    assert effective_burst(4) == 3
    assert effective_burst(1) == 1


def test_store_choice(settings):
    settings.REGOS_RATE_LIMIT_STORE = "auto"
    settings.REDIS_URL = ""
    assert limiter_store() == "database"
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    assert limiter_store() == "redis"
    settings.REGOS_RATE_LIMIT_STORE = "database"
    assert limiter_store() == "database"
    settings.REGOS_RATE_LIMIT_STORE = "process"
    assert limiter_store() == "process"
    settings.REGOS_RATE_LIMIT_STORE = "redis"
    settings.REDIS_URL = ""
    with pytest.raises(ValueError, match="needs REDIS_URL"):
        limiter_store()


@pytest.mark.django_db
def test_limiter_for_settings_database_by_default(settings):
    settings.REGOS_INTEGRATION_KEY = KEY
    settings.REGOS_RATE_PER_SEC = 2
    settings.REGOS_BURST = 50
    settings.REDIS_URL = ""
    settings.REGOS_RATE_LIMIT_STORE = "auto"

    limiter = limiter_for_settings()

    assert isinstance(limiter, DatabaseTokenBucket) and isinstance(limiter, RateLimiter)
    assert (limiter.rate_per_sec, limiter.burst) == (2.0, 48)
    assert limiter_for_settings() is limiter
    assert KEY not in repr(limiter)


def test_limiter_for_settings_redis_and_process(settings, redis_url):  # noqa: F811
    settings.REGOS_INTEGRATION_KEY = KEY
    settings.REGOS_RATE_PER_SEC = 2
    settings.REGOS_BURST = 50
    settings.REDIS_URL = redis_url
    settings.REGOS_RATE_LIMIT_STORE = "auto"

    limiter = limiter_for_settings()
    assert isinstance(limiter, RedisTokenBucket) and isinstance(limiter, RateLimiter)
    assert limiter.burst == 48
    assert limiter.acquire() == 0.0

    settings.REGOS_RATE_LIMIT_STORE = "process"
    local = limiter_for_settings()
    assert isinstance(local, TokenBucket) and local.burst == 50
