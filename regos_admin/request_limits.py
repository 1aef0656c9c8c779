"""A time limit on the database work of one web request (``DJANGO_REQUEST_DB_TIMEOUT_S``, default 30 s).

Web requests only: ``RequestTimeLimitMiddleware`` sets a deadline for the request, and

- on SQLite a progress handler (installed on every connection by ``connection_created``) aborts the
  running statement once the deadline has passed — SQLite calls it every few thousand VM steps, so a
  scan over many rows stops within moments of the deadline. It cannot interrupt one call of a Python
  SQL function on one row (e.g. ``REGEXP``), which is why the admin refuses such lookups outright
  (``regos_admin.admin_lookups``);
- on MongoDB there is no such bound yet (``pymongo.timeout()`` around the request broke the test
  server's connections and was not measured further): the admin's refusal of unoffered lookups is what
  protects it.

Sync runs, the webhook task and commands run in the worker or a shell, without a deadline. A request
that hits the limit is answered 503 with a message saying so; nothing it did before is undone (requests
that write do so in small idempotent steps).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import OperationalError
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

_deadline: ContextVar[float | None] = ContextVar("regos_request_deadline", default=None)
# SQLite virtual-machine steps between two checks of the clock: about a millisecond of work.
PROGRESS_STEPS = 10_000


def limit_s() -> float:
    return float(getattr(settings, "REQUEST_DB_TIMEOUT_S", 30))


def deadline_passed() -> bool:
    deadline = _deadline.get()
    return deadline is not None and time.monotonic() > deadline


def _sqlite_progress() -> int:
    return 1 if deadline_passed() else 0  # non-zero makes SQLite abort the statement ("interrupted")


def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.set_progress_handler(_sqlite_progress, PROGRESS_STEPS)


connection_created.connect(_on_connection_created, dispatch_uid="regos_admin.request_limits.sqlite")


@contextlib.contextmanager
def request_deadline(seconds: float) -> Iterator[None]:
    """Bound the database work done inside the block (used by the middleware, and by tests)."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and deadline_passed()


def too_slow_response() -> HttpResponse:
    message = _("This request took longer than %(seconds)s seconds and was stopped. Narrow the filters or "
                "the date range and try again.") % {"seconds": round(limit_s())}
    response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "60"
    return response


class RequestTimeLimitMiddleware:
    """Runs each request under ``request_deadline(DJANGO_REQUEST_DB_TIMEOUT_S)``; a timeout → 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_deadline(limit_s()):
            return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return too_slow_response() if _timed_out(exception) else None
