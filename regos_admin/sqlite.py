"""SQLite file databases run in WAL mode: web pages read while a sync writes, and no writer waits
for readers. Set per connection (the mode is stored in the file, so after the first time this is a
no-op); a connection that cannot switch (another process holds the file in the old mode) keeps
working in it and the next connection tries again — it never fails a connection. See
``regos_admin.env.SQLITE_OPTIONS`` and ``bench/sqlite_locks.py`` for the rest of the lock story.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from django.db.backends.signals import connection_created

log = logging.getLogger(__name__)


def _in_memory(name: str) -> bool:
    return not name or name == ":memory:" or "mode=memory" in name


def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor != "sqlite" or _in_memory(str(connection.settings_dict.get("NAME") or "")):
        return
    try:
        connection.connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        log.warning("SQLite stays in its journal mode for now: %s", exc)


connection_created.connect(_on_connection_created, dispatch_uid="regos_admin.sqlite.wal")
