"""The token bucket on a fake clock, the per-key process registry, and plugging in another limiter."""

from __future__ import annotations

import hashlib
import threading
from datetime import date

import pytest
import responses

from sync.regos import ratelimit
from sync.regos.client import RegosClient
from sync.regos.ratelimit import (
    RateLimiter,
    TokenBucket,
    UnlimitedLimiter,
    reset_shared_limiters,
    shared_limiter,
)
from tests.regos_client_support import BASE, KEY, FakeClock, add, cheques, make_client, page_json


@pytest.fixture(autouse=True)
def _fresh_registry():
    reset_shared_limiters()
    yield
    reset_shared_limiters()


def test_burst_then_refill_at_the_configured_rate():
    clock = FakeClock()
    bucket = TokenBucket(2, 3, clock=clock, sleep=clock.sleep)

    waits = [bucket.acquire() for _ in range(5)]

    # 3 tokens at once; then one every 1/2 s.
    assert waits == [0.0, 0.0, 0.0, 0.5, 0.5]
    assert clock.sleeps == [0.5, 0.5]


def test_partial_refill_waits_only_for_the_missing_part():
    clock = FakeClock()
    bucket = TokenBucket(2, 3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()

    clock.advance(0.25)  # half a token back
    assert bucket.acquire() == 0.25  # the other half: 0.5 token / 2 per s
    assert clock.sleeps == [0.25]


def test_refill_is_capped_at_the_burst():
    clock = FakeClock()
    bucket = TokenBucket(4, 3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()

    clock.advance(100)  # would be 400 tokens without the cap
    waits = [bucket.acquire() for _ in range(4)]

    assert waits == [0.0, 0.0, 0.0, 0.25]
    assert bucket.available() == 0.0  # the token the fourth caller slept for has been spent


def test_penalize_blocks_for_exactly_that_long():
    clock = FakeClock()
    bucket = TokenBucket(2, 50, clock=clock, sleep=clock.sleep)
    bucket.acquire()

    bucket.penalize(5)

    assert bucket.acquire() == 5.0
    assert bucket.acquire() == 0.5  # then back to the normal pace, not to a fresh burst
    assert clock.sleeps == [5.0, 0.5]


def test_penalize_never_shortens_an_existing_wait():
    clock = FakeClock()
    bucket = TokenBucket(1, 1, clock=clock, sleep=clock.sleep)
    bucket.penalize(10)
    bucket.penalize(2)

    assert bucket.acquire() == 10.0


def test_concurrent_callers_each_get_their_own_slot():
    # The clock stands still, so every reservation after the burst queues one 1/rate further:
    # 20 acquires at burst 5, rate 10 -> five free, then waits of 0.1, 0.2, ... 1.5 s, each once.
    clock = FakeClock()
    waits: list[float] = []
    bucket = TokenBucket(10, 5, clock=clock, sleep=waits.append)
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(5)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(waits) == pytest.approx([k / 10 for k in range(1, 16)])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        TokenBucket(0, 5)
    with pytest.raises(ValueError):
        TokenBucket(2, 0)


def test_the_bucket_and_the_null_limiter_satisfy_the_protocol():
    assert isinstance(TokenBucket(2, 50), RateLimiter)
    assert isinstance(UnlimitedLimiter(), RateLimiter)
    assert UnlimitedLimiter().acquire() == 0.0


def test_one_bucket_per_key_in_the_process_registered_by_hash():
    first = shared_limiter(KEY, rate_per_sec=2, burst=50)
    again = shared_limiter(KEY, rate_per_sec=2, burst=50)
    other = shared_limiter("another-key-0000000000000000000", rate_per_sec=2, burst=50)

    assert first is again
    assert other is not first
    assert hashlib.sha256(KEY.encode()).hexdigest() in ratelimit._registry
    assert all(KEY not in name for name in ratelimit._registry)


def test_a_later_client_reconfigures_the_shared_bucket():
    bucket = shared_limiter(KEY, rate_per_sec=2, burst=50)
    shared_limiter(KEY, rate_per_sec=5, burst=10)

    assert (bucket.rate_per_sec, bucket.burst) == (5.0, 10)
    assert bucket.available() <= 10


@responses.activate
def test_clients_with_the_same_key_share_the_default_bucket():
    # A rate this slow refills nothing measurable while the test runs.
    add(responses, "Stock/Get", page_json(['{"id": 3}']))
    add(responses, "Stock/Get", page_json(['{"id": 3}']))
    one = RegosClient(base_url=BASE, key=KEY, rate_per_sec=0.001, burst=2)
    two = RegosClient(base_url=BASE, key=KEY, rate_per_sec=0.001, burst=2)

    one.get_stocks()
    two.get_stocks()

    assert shared_limiter(KEY, rate_per_sec=0.001, burst=2).available() < 0.01  # both tokens spent


class RecordingLimiter:
    """A limiter that never blocks and only records (as a future Redis limiter might, before waiting)."""

    def __init__(self) -> None:
        self.acquired = 0
        self.penalties: list[float] = []

    def acquire(self) -> float:
        self.acquired += 1
        return 0.0

    def penalize(self, seconds: float) -> None:
        self.penalties.append(seconds)


@responses.activate
def test_a_plugged_in_limiter_is_used_and_the_client_still_honours_the_wait():
    add(responses, "DocCheque/Get", "", status=429, headers={"Retry-After": "7"})
    add(responses, "DocCheque/Get", page_json(cheques("a")))
    limiter = RecordingLimiter()
    client, sleeps = make_client(limiter=limiter)

    list(client.iter_cheques(first_day=date(2026, 8, 4), last_day=date(2026, 8, 4)))

    assert limiter.acquired == 2          # one token per HTTP attempt
    assert limiter.penalties == [7.0]     # the server's wait is shared with every user of the key
    assert sleeps == [7.0]                # the limiter did not wait, so the client did
    assert client.stats.wait_s == 7.0
