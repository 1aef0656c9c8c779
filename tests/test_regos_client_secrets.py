"""The integration key sits in the URL path: it must never reach a log line, an error or a repr."""

from __future__ import annotations

import logging
import traceback
from datetime import date

import pytest
import requests
import responses

from sync.regos.client import RegosClient
from sync.regos.errors import RegosError, RegosTransportError, RegosValidationError
from tests.regos_client_support import KEY, add, cheques, error_json, make_client, page_json, url

DAY = date(2026, 8, 4)
MASKED = "•••" + KEY[-4:]


def _read(client):
    return [c for page in client.iter_cheques(first_day=DAY, last_day=DAY) for c in page]


@responses.activate
def test_the_key_never_reaches_logs_or_errors(caplog):
    caplog.set_level(logging.DEBUG)
    add(responses, "DocCheque/Get", error_json(8213, "Too many requests"))
    add(responses, "DocCheque/Get", "", status=500)
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=2))
    # A connection error whose text carries the full URL, as urllib3's do.
    for _ in range(2):
        add(responses, "Stock/Get", requests.ConnectionError(
            f"HTTPSConnectionPool(host='regos.test', port=443): Max retries exceeded with url: "
            f"/gateway/out/{KEY}/v1/Stock/Get"))
    # A REGOS error description that echoes the key back.
    add(responses, "User/Get", error_json(1008, f"bad parameter for integration {KEY}"))
    client, _ = make_client(max_attempts=2)

    assert [c.uuid for c in _read(client)] == ["a", "b"]
    with pytest.raises(RegosTransportError) as transport:
        client.get_stocks()
    with pytest.raises(RegosValidationError) as validation:
        client.get_users()

    for error in (transport.value, validation.value):
        text = "".join(traceback.format_exception(error))
        assert KEY not in text
        assert KEY not in repr(error)
        assert error.__context__ is None and error.__cause__ is None  # the raw requests error is not chained
    assert MASKED in str(transport.value)
    assert KEY not in validation.value.description
    assert KEY not in repr(client)
    assert repr(client) == f"RegosClient(base_url='https://regos.test/gateway/out', key='{MASKED}')"
    assert KEY not in caplog.text
    assert KEY not in client.masked_url("DocCheque/Get")


@responses.activate
def test_one_info_line_per_request(caplog):
    caplog.set_level(logging.INFO, logger="sync.regos")
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=3))
    add(responses, "DocCheque/Get", page_json(cheques("c"), next_offset=3, total=3))
    client, _ = make_client(page_size=2)

    _read(client)

    info = [r.getMessage() for r in caplog.records if r.name == "sync.regos" and r.levelno == logging.INFO]
    assert len(info) == 2
    assert info[0].startswith("REGOS DocCheque/Get offset=0 rows=2 ")
    assert info[0].endswith(" attempt 1")
    assert info[1].startswith("REGOS DocCheque/Get offset=2 rows=1 ")


def test_urllib3_debug_lines_are_masked(caplog):
    make_client()  # registers the key's fingerprint with the masking filter
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")

    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s %s', "https", "regos.test", 443, "POST",
        f"/gateway/out/{KEY}/v1/DocCheque/Get", "HTTP/1.1", 200, 123)
    logging.getLogger("urllib3.connectionpool").debug("unrelated /api/v1/things stays as it is")

    assert KEY not in caplog.text
    assert f"/gateway/out/{MASKED}/v1/DocCheque/Get" in caplog.text
    assert "/api/v1/things" in caplog.text


def test_from_settings_without_a_key_says_so_without_a_value(settings):
    settings.REGOS_INTEGRATION_KEY = ""
    with pytest.raises(RegosError, match="REGOS_INTEGRATION_KEY is not set"):
        RegosClient.from_settings()


@responses.activate
def test_requests_go_to_the_key_url_with_the_json_headers():
    add(responses, "DocCheque/Get", page_json([]))
    client, _ = make_client()

    _read(client)

    request = responses.calls[0].request
    assert request.method == "POST"
    assert request.url == url("DocCheque/Get")
    assert request.headers["Content-Type"] == "application/json;charset=utf-8"
    assert request.headers["Accept"] == "application/json"


def longest_key_run(text: str, key: str = KEY) -> int:
    """The longest piece of ``key`` found in ``text`` (brute force, independent of the masking code)."""
    best = 0
    for start in range(len(key)):
        for end in range(len(key), start + best, -1):
            if key[start:end] in text:
                best = end - start
                break
    return best


@responses.activate
def test_a_non_json_body_echoing_the_url_leaks_no_run_of_the_key(caplog):
    """A proxy's HTML error page that echoes the request URL, with the key at every offset of the
    80-character snippet and the body cut at every length through the key (issue 15, item 3)."""
    caplog.set_level(logging.DEBUG)
    echo = f"<html>404 Not Found: POST /gateway/out/{KEY}/v1/DocCheque/Get</html>"
    key_at = echo.index(KEY)
    bodies = [" " * pad + echo for pad in range(0, 90)]  # the key crosses the snippet's end everywhere
    bodies += [echo[:cut] for cut in range(key_at, key_at + len(KEY) + 1)]  # cut anywhere in the key
    worst, messages = 0, []
    for body in bodies:
        add(responses, "Stock/Get", body, status=200)
        client, _ = make_client(max_attempts=1)
        with pytest.raises(RegosError) as raised:
            client.get_stocks()
        text = "".join(traceback.format_exception(raised.value)) + repr(raised.value)
        messages.append(text)
        worst = max(worst, longest_key_run(text))
        responses.reset()
    assert any("not valid JSON" in m for m in messages)
    assert worst < 8, worst
    assert longest_key_run(caplog.text) < 8
