"""Shared helpers for the tests/test_regos_client_*.py modules (this module holds no tests).

Bodies are written as JSON text on purpose: going through Python floats would hide exactly the
precision bugs the client must not have.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import responses

from sync.regos.client import RegosClient
from sync.regos.ratelimit import RateLimiter, UnlimitedLimiter

KEY = "k3yS3cr3tT0k3nAbCdEf0123456789zz"  # 32 characters, like a real REGOS key
BASE = "https://regos.test/gateway/out"


def url(method: str) -> str:
    return f"{BASE}/{KEY}/v1/{method}"


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it (or a test advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_client(*, limiter: RateLimiter | None = None, jitter: Callable[[], float] = lambda: 1.0,
                **options: Any) -> tuple[RegosClient, list[float]]:
    """A client that never really waits: returns it and the list of delays it slept.

    ``jitter`` defaults to 1.0, which makes the backoff exactly ``base * 2**(n-1)``.
    """
    sleeps: list[float] = []
    client = RegosClient(base_url=BASE, key=KEY, limiter=limiter or UnlimitedLimiter(),
                         sleep=sleeps.append, jitter=jitter, **options)
    return client, sleeps


def cheque_json(uuid: str, *, date: int = 1754290512, amount: str = "185000",
                status: str = '"Closed"') -> str:
    """One DocCheque as JSON text; ``amount`` is the JSON number's literal text."""
    return (
        f'{{"uuid": "{uuid}", "date": {date}, "code": "000154", "status": {status}, '
        f'"session": "9b1e7c44-2f0a-4e7b-8d11-5a6b7c8d9e0f", '
        f'"cashier": {{"id": 5, "full_name": "Karimova Dilnoza"}}, '
        f'"seller": {{"id": 17, "full_name": "Toshmatov Aziz"}}, '
        f'"is_return": false, "amount": {amount}, "last_update": 1754290530}}'
    )


def page_json(rows: list[str], *, next_offset: int | None = None, total: int | None = None) -> str:
    """An ok:true envelope around already-serialised rows; None fields are left out."""
    extra = ""
    if next_offset is not None:
        extra += f', "next_offset": {next_offset}'
    if total is not None:
        extra += f', "total": {total}'
    return f'{{"ok": true, "result": [{", ".join(rows)}]{extra}}}'


def error_json(code: int | str, description: str = "") -> str:
    return json.dumps({"ok": False, "result": {"error": code, "description": description}})


def cheques(*uuids: str) -> list[str]:
    return [cheque_json(u) for u in uuids]


def add(rsps: responses.RequestsMock, method: str, body: str | Exception, *, status: int = 200,
        headers: dict[str, str] | None = None) -> None:
    if isinstance(body, Exception):
        rsps.add(responses.POST, url(method), body=body)
    else:
        rsps.add(responses.POST, url(method), body=body, status=status, headers=headers,
                 content_type="application/json")


def sent(rsps: responses.RequestsMock, index: int = -1) -> dict[str, Any]:
    """The JSON body of a request the client sent."""
    return json.loads(rsps.calls[index].request.body)
