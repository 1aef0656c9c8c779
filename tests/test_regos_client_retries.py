"""Rate limits, transient failures and immediate errors: what is retried, how long it waits, what it raises.

Waits are recorded by injected sleeps; ``jitter`` is pinned so backoff is exactly 1, 2, 4... seconds.
"""

from __future__ import annotations

from datetime import date

import pytest
import requests
import responses

from sync.regos.errors import (
    RegosAccessError,
    RegosApiError,
    RegosRateLimitError,
    RegosResponseError,
    RegosTransportError,
    RegosValidationError,
)
from sync.regos.ratelimit import TokenBucket
from tests.regos_client_support import FakeClock, add, cheques, error_json, make_client, page_json

DAY = date(2026, 8, 4)
OK_PAGE = page_json(cheques("a"), next_offset=1, total=1)


def _read(client):
    return [c.uuid for page in client.iter_cheques(first_day=DAY, last_day=DAY) for c in page]


@responses.activate
def test_8213_waits_through_the_shared_bucket_then_succeeds():
    add(responses, "DocCheque/Get", error_json(8213, "Too many requests"))
    add(responses, "DocCheque/Get", OK_PAGE)
    clock = FakeClock()
    bucket = TokenBucket(2, 50, clock=clock, sleep=clock.sleep)
    client, client_sleeps = make_client(limiter=bucket)

    assert _read(client) == ["a"]

    # First rate-limit backoff = 1 s. penalize(1) leaves the bucket at 1 - 1*2 = -1 token; the next
    # acquire takes it to -2 and waits 2 / 2 per second = 1.0 s. The client itself sleeps nothing more.
    assert clock.sleeps == [1.0]
    assert client_sleeps == []
    assert client.stats.requests_made == 2
    assert client.stats.by_method == {"DocCheque/Get": 2}
    assert client.stats.rate_limit_waits == 1
    assert client.stats.retries == 1


@responses.activate
def test_8213_sent_as_a_string_is_still_a_rate_limit():
    add(responses, "DocCheque/Get", error_json("8213", "Слишком много запросов"))
    add(responses, "DocCheque/Get", OK_PAGE)
    client, sleeps = make_client()

    assert _read(client) == ["a"]
    assert sleeps == [1.0]


@responses.activate
def test_429_with_retry_after_seconds_is_honoured():
    add(responses, "DocCheque/Get", "", status=429, headers={"Retry-After": "7"})
    add(responses, "DocCheque/Get", OK_PAGE)
    client, sleeps = make_client()

    assert _read(client) == ["a"]
    assert sleeps == [7.0]
    assert client.stats.rate_limit_waits == 1


@responses.activate
def test_429_retry_after_goes_through_a_token_bucket_as_one_wait():
    add(responses, "DocCheque/Get", "", status=429, headers={"Retry-After": "7"})
    add(responses, "DocCheque/Get", OK_PAGE)
    clock = FakeClock()
    client, client_sleeps = make_client(limiter=TokenBucket(2, 50, clock=clock, sleep=clock.sleep))

    assert _read(client) == ["a"]
    # penalize(7): balance 1 - 7*2 = -13; acquire: -14 -> 14 / 2 = 7.0 s.
    assert clock.sleeps == [7.0]
    assert client_sleeps == []


@responses.activate
def test_429_with_an_http_date_retry_after():
    # 2026-11-04 is a Wednesday; the server says "come back 12 s after my Date".
    add(responses, "DocCheque/Get", "", status=429, headers={
        "Date": "Wed, 04 Nov 2026 10:00:00 GMT", "Retry-After": "Wed, 04 Nov 2026 10:00:12 GMT"})
    add(responses, "DocCheque/Get", OK_PAGE)
    client, sleeps = make_client()

    assert _read(client) == ["a"]
    assert sleeps == [12.0]


@responses.activate
def test_429_without_retry_after_backs_off_exponentially():
    add(responses, "DocCheque/Get", "", status=429)
    add(responses, "DocCheque/Get", "", status=429)
    add(responses, "DocCheque/Get", OK_PAGE)
    client, sleeps = make_client()

    assert _read(client) == ["a"]
    assert sleeps == [1.0, 2.0]
    assert client.stats.rate_limit_waits == 2
    assert client.stats.retries == 2
    assert client.stats.requests_made == 3


@responses.activate
def test_backoff_jitter_scales_between_half_and_full():
    add(responses, "DocCheque/Get", "", status=429)
    add(responses, "DocCheque/Get", "", status=429)
    add(responses, "DocCheque/Get", OK_PAGE)
    client, sleeps = make_client(jitter=lambda: 0.0)

    assert _read(client) == ["a"]
    assert sleeps == [0.5, 1.0]  # 1 s and 2 s, each at the bottom of its 50..100 % range


@responses.activate
def test_rate_limit_retries_are_bounded():
    for _ in range(4):
        add(responses, "DocCheque/Get", error_json(8213, "Too many requests"))
    client, sleeps = make_client(max_rate_limit_retries=3)

    with pytest.raises(RegosRateLimitError) as caught:
        _read(client)

    assert sleeps == [1.0, 2.0, 4.0]
    assert len(responses.calls) == 4
    assert caught.value.attempts == 4
    assert caught.value.method == "DocCheque/Get"
    assert "DocCheque/Get: still rate-limited by REGOS after 4 attempts" in str(caught.value)


@responses.activate
def test_rate_limit_total_wait_is_bounded():
    for _ in range(3):
        add(responses, "DocCheque/Get", "", status=429, headers={"Retry-After": "50"})
    client, sleeps = make_client(max_rate_limit_wait_s=120)

    with pytest.raises(RegosRateLimitError):
        _read(client)

    assert sleeps == [50.0, 50.0]  # a third 50 s wait would pass the 120 s budget
    assert len(responses.calls) == 3


@responses.activate
def test_5xx_is_retried_then_succeeds():
    add(responses, "DocCheque/Get", "<html>bad gateway</html>", status=502)
    add(responses, "DocCheque/Get", "", status=503)
    add(responses, "DocCheque/Get", OK_PAGE)
    client, sleeps = make_client()

    assert _read(client) == ["a"]
    assert sleeps == [1.0, 2.0]
    assert client.stats.retries == 2
    assert client.stats.rate_limit_waits == 0
    assert client.stats.requests_made == 3


@responses.activate
def test_503_retry_after_is_honoured():
    add(responses, "DocCheque/Get", "", status=503, headers={"Retry-After": "3"})
    add(responses, "DocCheque/Get", OK_PAGE)
    client, sleeps = make_client()

    assert _read(client) == ["a"]
    assert sleeps == [3.0]


@responses.activate
def test_5xx_exhausted_raises_a_transport_error_naming_method_and_attempts():
    for _ in range(3):
        add(responses, "DocCheque/Get", "", status=500)
    client, sleeps = make_client(max_attempts=3)

    with pytest.raises(RegosTransportError) as caught:
        _read(client)

    assert str(caught.value) == "DocCheque/Get failed after 3 attempts: HTTP 500"
    assert caught.value.method == "DocCheque/Get"
    assert caught.value.attempts == 3
    assert sleeps == [1.0, 2.0]
    assert len(responses.calls) == 3
    assert client.stats.requests_made == 3
    assert client.stats.retries == 2


@responses.activate
def test_timeout_is_retried():
    add(responses, "DocCheque/Get", requests.ReadTimeout("read timed out"))
    add(responses, "DocCheque/Get", OK_PAGE)
    # 100 rows is the smallest page the client asks for: no smaller page to try, so the timeout is
    # a failed attempt (larger pages are halved first: test_regos_client_page_sizes.py).
    client, sleeps = make_client(timeout_s=12, page_size=100)

    assert _read(client) == ["a"]
    assert sleeps == [1.0]
    assert client.stats.requests_made == 2


@responses.activate
def test_connection_errors_exhausted():
    for _ in range(2):
        add(responses, "DocCheque/Get", requests.ConnectionError("connection refused"))
    client, sleeps = make_client(max_attempts=2)

    with pytest.raises(RegosTransportError) as caught:
        _read(client)

    assert "DocCheque/Get failed after 2 attempts: connection failed" in str(caught.value)
    assert "connection refused" in str(caught.value)
    assert sleeps == [1.0]


@responses.activate
def test_timeouts_exhausted_say_so():
    for _ in range(2):
        add(responses, "DocCheque/Get", requests.ConnectTimeout("connect timed out"))
    client, _ = make_client(max_attempts=2, timeout_s=12)

    with pytest.raises(RegosTransportError, match=r"after 2 attempts: timed out after 12 s"):
        _read(client)


@responses.activate
def test_rate_limits_do_not_use_up_the_failure_budget():
    add(responses, "DocCheque/Get", "", status=500)
    add(responses, "DocCheque/Get", error_json(8213))
    add(responses, "DocCheque/Get", OK_PAGE)
    client, sleeps = make_client(max_attempts=2)

    assert _read(client) == ["a"]
    assert sleeps == [1.0, 1.0]  # first failure backoff, first rate-limit backoff


@responses.activate
def test_1008_fails_at_once_as_a_validation_error():
    description = "Input validation error: parameters are invalid. Details: end_date"
    add(responses, "DocCheque/Get", error_json(1008, description))
    client, sleeps = make_client()

    with pytest.raises(RegosValidationError) as caught:
        _read(client)

    assert caught.value.code == 1008
    assert caught.value.description == description
    assert str(caught.value).startswith("DocCheque/Get: REGOS error 1008: Input validation error")
    assert caught.value.attempts == 1
    assert len(responses.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize("code", [1096, 9006, "9006"])
@responses.activate
def test_access_codes_fail_at_once(code):
    add(responses, "DocCheque/Get", error_json(code, "Access denied"))
    client, _ = make_client()

    with pytest.raises(RegosAccessError) as caught:
        _read(client)

    assert caught.value.code == int(code)
    assert len(responses.calls) == 1


@responses.activate
def test_other_regos_codes_are_plain_api_errors():
    add(responses, "DocCheque/Get", error_json(1100, "Ambiguous integration"))
    client, _ = make_client()

    with pytest.raises(RegosApiError) as caught:
        _read(client)

    assert type(caught.value) is RegosApiError
    assert (caught.value.code, caught.value.description) == (1100, "Ambiguous integration")
    assert len(responses.calls) == 1


@pytest.mark.parametrize("status", [401, 403])
@responses.activate
def test_http_401_and_403_are_access_errors(status):
    add(responses, "DocCheque/Get", "", status=status)
    client, sleeps = make_client()

    with pytest.raises(RegosAccessError, match=f"HTTP {status}"):
        _read(client)

    assert len(responses.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [400, 404, 410, 302])
@responses.activate
def test_other_non_success_statuses_fail_at_once(status):
    add(responses, "DocCheque/Get", "", status=status)
    client, _ = make_client()

    with pytest.raises(RegosTransportError, match=f"DocCheque/Get: unexpected HTTP {status}"):
        _read(client)

    assert len(responses.calls) == 1


@responses.activate
def test_broken_error_envelope_is_retried_like_a_broken_body():
    add(responses, "DocCheque/Get", '{"ok": false, "result": "boom"}')
    add(responses, "DocCheque/Get", OK_PAGE)
    client, sleeps = make_client()

    assert _read(client) == ["a"]
    assert sleeps == [1.0]


@responses.activate
def test_response_errors_after_retries_are_response_errors():
    for _ in range(2):
        add(responses, "DocCheque/Get", '{"ok": false, "result": "boom"}')
    client, _ = make_client(max_attempts=2)

    with pytest.raises(RegosResponseError, match=r"^DocCheque/Get: unusable answer after 2 attempts: ok:fal"):
        _read(client)
