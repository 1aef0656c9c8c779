"""Which SQLite setting keeps the worker heartbeat from being lost while a sync holds the database?

Run: ``.venv/bin/python bench/sqlite_locks.py`` (about 30 s). One connection plays the sync: it
opens a write transaction and holds it for ``HOLD_S`` seconds (a day rebuild). Another plays the
worker writing its heartbeat the two ways django-q2 writes: a single autocommit UPDATE (the
heartbeat task's ``kv_set``, the broker) and a read-then-write transaction (the scheduler's
``atomic()`` + ``select_for_update()``, a no-op on SQLite). Printed: whether the heartbeat was
written and how long it waited, for each journal mode x busy timeout x transaction mode.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import time
from pathlib import Path

HOLD_S = 2.0


def _connect(path: Path, *, timeout: float, wal: bool) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN ourselves, as Django's sqlite backend does.
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")
    return conn


def trial(*, wal: bool, timeout: float, style: str) -> tuple[bool, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.sqlite3"
        setup = _connect(path, timeout=timeout, wal=wal)
        setup.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")
        setup.execute("INSERT INTO kv VALUES ('worker-heartbeat', '0'), ('day', '0')")
        setup.close()
        holding, release = threading.Event(), threading.Event()

        def sync() -> None:
            conn = _connect(path, timeout=timeout, wal=wal)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE kv SET value = 'rebuilding' WHERE key = 'day'")
            holding.set()
            release.wait(HOLD_S)
            conn.execute("COMMIT")
            conn.close()

        thread = threading.Thread(target=sync)
        thread.start()
        holding.wait()
        worker = _connect(path, timeout=timeout, wal=wal)
        started = time.monotonic()
        try:
            if style == "autocommit":
                worker.execute("UPDATE kv SET value = 'beat' WHERE key = 'worker-heartbeat'")
            else:
                worker.execute("BEGIN IMMEDIATE" if style == "immediate" else "BEGIN")
                worker.execute("SELECT value FROM kv").fetchall()
                worker.execute("UPDATE kv SET value = 'beat' WHERE key = 'worker-heartbeat'")
                worker.execute("COMMIT")
            ok, error = True, ""
        except sqlite3.OperationalError as exc:
            ok, error = False, str(exc)
            worker.execute("ROLLBACK") if worker.in_transaction else None
        waited = time.monotonic() - started
        release.set()
        thread.join()
        worker.close()
        return ok, waited, error


def main() -> None:
    print(f"sync holds a write transaction for {HOLD_S:g} s; heartbeat written meanwhile")
    print(f"{'journal':8} {'timeout':>8} {'heartbeat write':24} {'written':8} {'waited':>8}  error")
    for wal in (False, True):
        for timeout in (1.0, 30.0):
            for style in ("autocommit", "deferred", "immediate"):
                ok, waited, error = trial(wal=wal, timeout=timeout, style=style)
                label = {"autocommit": "autocommit UPDATE", "deferred": "BEGIN (deferred) read+write",
                         "immediate": "BEGIN IMMEDIATE read+write"}[style]
                print(f"{'WAL' if wal else 'DELETE':8} {timeout:>7g}s {label:24} {str(ok):8} {waited:>7.3f}s  {error}")


if __name__ == "__main__":
    main()
