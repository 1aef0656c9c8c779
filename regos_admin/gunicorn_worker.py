"""Gunicorn's threaded worker with a deadline on reading a request (``deploy/gunicorn.conf.py`` uses it).

Without a proxy in front (the LAN setup, ``HOST=0.0.0.0``) a client that sends its request line and
then one header line every few seconds holds a thread for as long as it likes: gunicorn's gthread
worker waits for the *first* byte off-thread, but then reads the headers (and later the body) with a
blocking socket and no time limit, and its ``timeout`` never fires for a threaded worker that is
otherwise alive. 16 such clients took every thread of ``make serve`` (2 workers × 4 threads) and
``/health/`` timed out.

``ReadDeadlineWorker`` gives each request ``GUNICORN_READ_TIMEOUT`` seconds (default 10) from the
moment its connection is accepted (or readable again after keep-alive) until its headers are parsed,
and the same again for each read of the body the application makes. A watchdog thread shuts the
socket of a request over its deadline, which wakes the blocked read (the client sees the connection
closed, the thread is free again); connections queued behind slow ones expire while they wait, so a
request is read, or its connection closed, within the deadline whatever is ahead of it. The
application's own work is not cut off here: the database time limit (``regos_admin.request_limits``)
bounds it, and REGOS calls run in the django-q2 worker. Measured figures: README, "Production".
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

WATCH_EVERY_S = 0.5


def read_timeout_s() -> float:
    return float(os.environ.get("GUNICORN_READ_TIMEOUT", "10"))


class _TimedBody:
    """``wsgi.input`` whose every read runs under the connection's read deadline."""

    def __init__(self, body: Any, worker: ReadDeadlineWorker, conn: Any) -> None:
        self._body, self._worker, self._conn = body, worker, conn

    def read(self, *args: Any) -> bytes:
        with self._worker.reading(self._conn):
            return self._body.read(*args)

    def readline(self, *args: Any) -> bytes:
        with self._worker.reading(self._conn):
            return self._body.readline(*args)

    def readlines(self, *args: Any) -> list[bytes]:
        with self._worker.reading(self._conn):
            return self._body.readlines(*args)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._body, name)


class ReadDeadlineWorker(ThreadWorker):
    """gthread, plus a read deadline per request (see the module docstring)."""

    def init_process(self) -> None:
        self._deadlines: dict[int, tuple[float, Any]] = {}
        self._deadlines_lock = threading.Lock()
        self._read_timeout = read_timeout_s()
        threading.Thread(target=self._watch, name="read-deadline", daemon=True).start()
        super().init_process()  # runs the worker's loop until it stops

    def _arm(self, conn: Any, *, keep: bool = False) -> None:
        with self._deadlines_lock:
            if keep and id(conn) in self._deadlines:
                return
            self._deadlines[id(conn)] = (time.monotonic() + self._read_timeout, conn)

    def _disarm(self, conn: Any) -> None:
        with self._deadlines_lock:
            self._deadlines.pop(id(conn), None)

    @contextlib.contextmanager
    def reading(self, conn: Any) -> Iterator[None]:
        self._arm(conn)
        try:
            yield
        finally:
            self._disarm(conn)

    def enqueue_req(self, conn: Any) -> None:
        # The clock starts when the connection is accepted (or readable again after keep-alive), not
        # when a thread takes it: connections queued behind slow ones expire while they wait, so a
        # request that arrives is read — or its connection closed — within the deadline.
        self._arm(conn, keep=True)
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        result = None
        try:
            result = super().handle(conn)
            return result
        finally:
            if result is not _deferred():  # deferred: no data yet, the deadline keeps running
                self._disarm(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        self._disarm(conn)  # the headers are in; the body is read under a deadline per read
        if getattr(req, "body", None) is not None:
            req.body = _TimedBody(req.body, self, conn)
        return super().handle_request(req, conn)

    def _watch(self) -> None:
        while True:
            time.sleep(WATCH_EVERY_S)
            now = time.monotonic()
            with self._deadlines_lock:
                late = [key for key, (deadline, _) in self._deadlines.items() if deadline < now]
                conns = [self._deadlines.pop(key)[1] for key in late]
            for conn in conns:
                self.log.warning("closing a connection from %s: request not read within %ss",
                                 _peer(conn), self._read_timeout)
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)


def _deferred() -> object:
    """gthread's marker for "no data yet, back to the poller" (the deadline keeps running then)."""
    from gunicorn.workers import gthread

    return getattr(gthread, "_DEFER", object())


def _peer(conn: Any) -> str:
    client = getattr(conn, "client", None)
    return str(client[0]) if isinstance(client, tuple) and client else "?"
