"""Building the client from Django settings, and its lifecycle."""

from __future__ import annotations

import pytest
import requests
import responses

from sync.regos.client import RegosClient
from sync.regos.ratelimit import reset_shared_limiters, shared_limiter
from tests.regos_client_support import KEY, page_json


@pytest.fixture(autouse=True)
def _fresh_registry(settings):
    # These tests are about the in-process bucket; the shared stores have their own tests.
    settings.REGOS_RATE_LIMIT_STORE = "process"
    reset_shared_limiters()
    yield
    reset_shared_limiters()


@responses.activate
def test_from_settings_uses_every_regos_setting(settings):
    settings.REGOS_BASE_URL = "https://erp.example.test/gateway/out"
    settings.REGOS_INTEGRATION_KEY = KEY
    settings.REGOS_RATE_PER_SEC = 7.0
    settings.REGOS_BURST = 9
    settings.REGOS_TIMEOUT_S = 11.0
    settings.REGOS_PAGE_SIZE = 321
    settings.REGOS_MAX_ATTEMPTS = 2
    responses.add(responses.POST, f"https://erp.example.test/gateway/out/{KEY}/v1/Stock/Get", status=500)
    responses.add(responses.POST, f"https://erp.example.test/gateway/out/{KEY}/v1/Stock/Get",
                  body=page_json(['{"id": 3}']), content_type="application/json")

    with RegosClient.from_settings(sleep=lambda _s: None) as client:
        assert [s.id for s in client.get_stocks()] == [3]

    assert client.page_size == 321
    assert client.base_url == "https://erp.example.test/gateway/out"
    assert responses.calls[1].request.body == b'{"limit":321,"offset":0}'
    assert responses.calls[0].request.req_kwargs["timeout"] == 11.0
    bucket = shared_limiter(KEY, rate_per_sec=7.0, burst=9)
    assert (bucket.rate_per_sec, bucket.burst) == (7.0, 9)


@responses.activate
def test_max_attempts_from_settings_bounds_retries(settings):
    settings.REGOS_BASE_URL = "https://erp.example.test/gateway/out"
    settings.REGOS_INTEGRATION_KEY = KEY
    settings.REGOS_MAX_ATTEMPTS = 2
    for _ in range(2):
        responses.add(responses.POST, f"https://erp.example.test/gateway/out/{KEY}/v1/Stock/Get", status=503)
    client = RegosClient.from_settings(sleep=lambda _s: None)

    with pytest.raises(Exception, match="Stock/Get failed after 2 attempts: HTTP 503"):
        client.get_stocks()
    assert client.stats.requests_made == 2


class TrackingSession(requests.Session):
    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


def test_close_and_context_manager_close_the_session():
    session = TrackingSession()
    with RegosClient(base_url="https://regos.test/gateway/out", key=KEY, session=session) as client:
        assert client is not None
        assert session.closed is False
    assert session.closed is True

    other = TrackingSession()
    RegosClient(base_url="https://regos.test/gateway/out", key=KEY, session=other).close()
    assert other.closed is True


@pytest.mark.parametrize("options", [{"key": ""}, {"page_size": 0}, {"max_attempts": 0}, {"timeout_s": 0}])
def test_nonsense_options_are_refused(options):
    kwargs = {"base_url": "https://regos.test/gateway/out", "key": KEY, **options}
    with pytest.raises(ValueError):
        RegosClient(**kwargs)
