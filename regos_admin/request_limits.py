"""A time limit on the database work of one web request (``DJANGO_REQUEST_DB_TIMEOUT_S``, default 30 s).

Web requests only: ``RequestTimeLimitMiddleware`` sets a deadline for the request, and

- on SQLite a progress handler (installed on every connection by ``connection_created``) aborts the
  running statement once the deadline has passed — SQLite calls it every few thousand VM steps, so a
  scan over many rows stops within moments of the deadline. It cannot interrupt one call of a Python
  SQL function on one row (e.g. ``REGEXP``), which is why the admin refuses such lookups outright
  (``regos_admin.admin_lookups``);
- on MongoDB every ``aggregate`` (django-mongodb-backend reads with aggregate only) carries
  ``maxTimeMS`` = the time left to the deadline (at least 1 ms), so the *server* stops a long read with
  ``ExecutionTimeout`` (code 50) and frees its resources; the connection stays usable. Writes
  (``update_many``/``delete_many``/``insert_many``) carry no limit: pymongo offers none for them, and the
  web requests write a few rows at a time. (``pymongo.timeout()`` around the whole request was tried
  first and left aside: it also bounds server selection and connection checkout, so a request that
  started near its deadline failed before reaching the server — a client-side refusal, not a bound on
  the server's work.)

Sync runs, the webhook task and commands run in the worker or a shell, without a deadline. A request
that hits the limit is answered 503 with a message saying so; nothing it did before is undone (requests
that write do so in small idempotent steps).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import OperationalError, connections
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from pymongo.errors import ExecutionTimeout

log = logging.getLogger(__name__)
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


def remaining_ms() -> int | None:
    """Milliseconds left to the request's deadline (at least 1), or None outside a web request."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return max(1, int((deadline - time.monotonic()) * 1000))


class _BoundedCollection:
    """A pymongo Collection whose ``aggregate`` carries ``maxTimeMS`` inside a request deadline."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def aggregate(self, pipeline: Any, *args: Any, **kwargs: Any) -> Any:
        left = remaining_ms()
        if left is not None and "maxTimeMS" not in kwargs:
            kwargs["maxTimeMS"] = left
        return self._collection.aggregate(pipeline, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


def _bound_mongodb(connection: Any) -> None:
    if getattr(connection, "_regos_bounded", False):
        return
    unbounded = connection.get_collection

    def get_collection(name: str, **kwargs: Any) -> Any:
        return _BoundedCollection(unbounded(name, **kwargs))

    connection.get_collection = get_collection
    connection._regos_bounded = True


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


def _execution_timeout(exc: BaseException | None) -> bool:
    """pymongo's ExecutionTimeout (maxTimeMS expired), raised as is or as the cause of a DatabaseError."""
    while exc is not None:
        if isinstance(exc, ExecutionTimeout):
            return True
        exc = exc.__cause__
    return False


def _timed_out(exc: BaseException) -> bool:
    if _execution_timeout(exc):
        return _deadline.get() is not None
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
        for connection in connections.all():
            if connection.vendor == "mongodb":  # connected first: get_collection connects lazily
                connection.ensure_connection()
                _bound_mongodb(connection)
        with request_deadline(limit_s()):
            return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _timed_out(exception):
            return None
        cause = exception.__cause__ or exception
        log.warning("%s %s stopped at the database time limit (%ss): %s: %s", request.method,
                    request.path[:200], limit_s(), type(cause).__name__, str(cause).splitlines()[0][:120])
        return too_slow_response()
