"""No write is lost to SQLite lock contention: the worker's heartbeat waits for a sync's write.

A sync holds a write transaction (one day's rebuild) in one thread; the worker writes its
heartbeat in another the way django-q2's scheduler writes (``atomic()``: read, then write). With
the options ``DATABASE_URL`` gets (``regos_admin.env.SQLITE_OPTIONS``) the heartbeat waits and is
written once the sync commits. With Django's default (deferred) transactions — what we had — it
fails at once with "database is locked", whatever the busy timeout: the measured cause of the lost
heartbeats (``bench/sqlite_locks.py``). Runs on its own SQLite file, so it is the same on both
test passes. Readiness is signalled with events; the only bounded wait is the one asserting that
the heartbeat is still waiting while the sync holds the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import OperationalError, connections, transaction

from regos_admin.env import parse_database_url
from sync.models import KeyValue
from sync.schedule import HEARTBEAT_KEY

ALIAS = "locks"
STILL_WAITING_S = 0.5  # the heartbeat must not get through while the sync holds the database


@pytest.fixture
def lock_db(tmp_path: Path, request: pytest.FixtureRequest, django_db_blocker) -> Iterator[str]:  # noqa: ANN001
    """A fresh SQLite file with the KeyValue table, as connection ``locks`` with the given options.

    Not the test database (no ``django_db``): Django's test case would refuse threaded connections."""
    config = parse_database_url(f"sqlite:///{tmp_path / 'locks.sqlite3'}")
    config["OPTIONS"] = {**config["OPTIONS"], **getattr(request, "param", {})}  # type: ignore[dict-item]
    connections.settings[ALIAS] = connections.configure_settings({"default": config})["default"]
    try:
        with django_db_blocker.unblock():
            with connections[ALIAS].schema_editor() as editor:
                editor.create_model(KeyValue)
            KeyValue.objects.using(ALIAS).create(key=HEARTBEAT_KEY, value="old")
            yield ALIAS
    finally:
        connections[ALIAS].close()
        del connections[ALIAS]
        del connections.settings[ALIAS]


def contend(alias: str) -> tuple[threading.Event, list[BaseException], str, bool]:
    """Run sync + heartbeat; (done, errors, heartbeat value, whether it was still waiting at release)."""
    holding, release, attempting, done = (threading.Event() for _ in range(4))
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            with transaction.atomic(using=alias):
                KeyValue.objects.using(alias).create(key="day:2026-11-24", value="rebuilding")
                holding.set()
                release.wait(60)
        finally:
            connections[alias].close()

    def heartbeat() -> None:
        holding.wait(60)
        attempting.set()
        try:
            # django-q2's scheduler: atomic(), read the schedules, then write.
            with transaction.atomic(using=alias):
                list(KeyValue.objects.using(alias).all())
                KeyValue.objects.using(alias).filter(key=HEARTBEAT_KEY).update(value="beat")
        except BaseException as exc:  # noqa: BLE001 — reported to the test
            errors.append(exc)
        finally:
            connections[alias].close()
            done.set()

    threads = [threading.Thread(target=sync), threading.Thread(target=heartbeat)]
    for thread in threads:
        thread.start()
    try:
        assert attempting.wait(60)
        waiting = not done.wait(STILL_WAITING_S)
    finally:
        release.set()
        for thread in threads:
            thread.join(60)
    value = KeyValue.objects.using(alias).get(key=HEARTBEAT_KEY).value
    return done, errors, value, waiting


def test_the_heartbeat_waits_for_the_syncs_write_and_is_written(lock_db: str) -> None:
    assert connections[lock_db].settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    done, errors, value, waiting = contend(lock_db)
    assert waiting, "the heartbeat got through while the sync held the write lock"
    assert done.is_set() and errors == []
    assert value == "beat"
    assert KeyValue.objects.using(lock_db).filter(key="day:2026-11-24").exists()  # the sync's write too


def test_the_file_is_in_wal_mode(lock_db: str) -> None:
    with connections[lock_db].cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"


@pytest.mark.parametrize("lock_db", [{"transaction_mode": None}], indirect=True)
def test_with_deferred_transactions_the_heartbeat_was_lost(lock_db: str) -> None:
    """What we had (timeout 30 s, deferred): the read-then-write fails at once, nothing is written."""
    done, errors, value, waiting = contend(lock_db)
    assert not waiting  # it did not wait for the 30 s busy timeout
    assert len(errors) == 1 and isinstance(errors[0], OperationalError)
    assert "database is locked" in str(errors[0])
    assert value == "old"
