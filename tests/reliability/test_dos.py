"""Denial of service (issue 15): admin lookups that freeze the database, unbounded requests, webhook
floods that multiply re-syncs, and a login throttle raced by parallel attempts. Counts, not timings."""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payroll.dates import today
from sync import inbox
from sync.models import DirtyDay, SalesFact, SyncRun, WebhookEvent
from tests.fixtures.people import PASSWORD
from tests.fixtures.regos import REGOS_TEST_KEY
from tests.reliability.support import Record

LOGIN = "/login/"
CATASTROPHIC = "^.{30}(?:(?:[0-9a-f-]|[0-9a-f-])+)+Z"  # the pattern that took 61 s per request


def changelist(label: str) -> str:
    app, model = label.split(".")
    return reverse(f"admin:{app}_{model}_changelist")


# (changelist, query string parameter, value): none of these is offered by a filter of the page.
# Hand-listed from the admins' list_filter / date_hierarchy in sync/admin.py and payroll/admin.py.
REFUSED = [
    ("sync.salesfact", "regos_id__regex", CATASTROPHIC),
    ("sync.salesfact", "regos_id__regex", "(("),
    ("sync.salesfact", "code__iregex", CATASTROPHIC),
    ("sync.salesfact", "occurred_at__year", "99999"),
    ("sync.salesfact", "business_date__year", "99999"),  # the date hierarchy itself: year out of range
    ("sync.salesfact", "business_date__year", "9999"),  # its year + 1 overflows datetime
    ("sync.salesfact", "amount__gt", "0"),
    ("sync.webhookevent", "payload__contains", "{"),
    ("sync.webhookevent", "event_id__regex", CATASTROPHIC),
    ("sync.webhookevent", "occurred_at__year", "99999"),
    ("sync.syncrun", "error__regex", CATASTROPHIC),
    ("sync.syncrun", "finished_at__year", "99999"),
    ("sync.stockmapping", "regos_name__regex", "(("),
    ("sync.stockmapping", "discovered_at__year", "99999"),
    ("sync.sellermapping", "full_name__regex", CATASTROPHIC),
    ("sync.sellermapping", "updated_at__year", "99999"),
    ("sync.mappingaudit", "regos_name__regex", "(("),
    ("payroll.branch", "name__regex", CATASTROPHIC),
    ("payroll.branch", "updated_at__year", "99999"),
    ("payroll.employee", "full_name__regex", "(("),
    ("payroll.dailysaleshistory", "date__year", "99999"),
    ("payroll.dailysaleshistory", "branch__name__regex", CATASTROPHIC),
]
# Offered by the filters: still answered (positive control).
OFFERED = [
    ("sync.salesfact", "is_return__exact", "1"),
    ("sync.salesfact", "business_date__year", "2026"),
    ("sync.salesfact", "stock", "7"),
    ("sync.syncrun", "status__exact", "succeeded"),
    ("sync.stockmapping", "branch__isempty", "1"),
    ("payroll.dailysaleshistory", "date__gte", "2026-11-01"),
]


def _facts(n: int) -> None:
    SalesFact.objects.bulk_create([
        SalesFact(source_kind="cheque", regos_id=f"{i:08x}-0000-4000-8000-{i:012x}", code=f"N-{i}",
                  business_date=date(2026, 11, 20), occurred_at=datetime(2026, 11, 20, 7, tzinfo=UTC),
                  stock_id=7, sale_type="retail", amount="1.00", doc_amount="1.00", currency="UZS",
                  status="closed")
        for i in range(n)
    ])


@pytest.mark.django_db
def test_admin_lookups_no_filter_offers_never_reach_the_database(admin_client, accountant_client,
                                                                  record: Record) -> None:
    record("Denial of service", "admin changelists given lookups no filter offers: backtracking "
           f"`__regex` ({CATASTROPHIC}), `((`, `payload__contains={{`, `__year=99999`, on 9 changelists",
           "400 with a clear message before any query carries the lookup; offered filters still answer 200")
    _facts(50)
    statuses: Counter[int] = Counter()
    # The accountant's own attack first: the request that froze the server.
    with CaptureQueriesContext(connection) as queries:
        response = accountant_client.get(changelist("sync.salesfact"), {"regos_id__regex": CATASTROPHIC},
                                          HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "Filtering by “regos_id__regex” is not offered on this page" in response.content.decode()
    assert not [q for q in queries.captured_queries if "REGEXP" in q["sql"].upper() or CATASTROPHIC in q["sql"]]
    for label, name, value in REFUSED:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(changelist(label), {name: value}, HTTP_ACCEPT_LANGUAGE="en")
        statuses[response.status_code] += 1
        assert response.status_code == 400, (label, name, value, response.status_code)
        text = response.content.decode()
        assert "not offered on this page" in text or "The year must be a number from 1 to 9998" in text, text
        assert not [q for q in queries.captured_queries if value in q["sql"] and len(value) > 2], (label, name)
        assert not [q for q in queries.captured_queries if "REGEXP" in q["sql"].upper()], (label, name)
    for label, name, value in OFFERED:
        response = admin_client.get(changelist(label), {name: value})
        statuses[response.status_code] += 1
        assert response.status_code == 200, (label, name, value, response.status_code)
    record.saw(f"{len(REFUSED) + 1} hostile lookups → 400 “Filtering by … is not offered on this page” / “The "
               f"year must be a number from 1 to 9998”, no query carried them; {len(OFFERED)} offered filters → "
               f"200; statuses {dict(sorted(statuses.items()))}")


# Django's and django-q2's own admins, hand-listed from their list_filter (django/contrib/auth/admin.py,
# django_q/admin.py): the same rule applies to them.
THIRD_PARTY_REFUSED = [
    ("auth.user", "password__startswith", "pbkdf2_sha256$"),  # would reveal hashes a prefix at a time
    ("auth.user", "username__regex", CATASTROPHIC),
    ("auth.user", "last_login__year", "99999"),
    ("auth.group", "name__regex", "(("),
    ("django_q.success", "func__regex", CATASTROPHIC),
    ("django_q.failure", "result__contains", "{"),
    ("django_q.schedule", "next_run__year", "99999"),
    ("django_q.ormq", "payload__regex", CATASTROPHIC),
]
THIRD_PARTY_OFFERED = [
    ("auth.user", "is_staff__exact", "1"),
    ("auth.user", "groups__id__exact", "<a group's id>"),  # an integer on SQLite, an ObjectId on MongoDB
    ("django_q.success", "group", "regos-dirty-resync"),  # AllValuesFieldListFilter: no __exact
    ("django_q.schedule", "schedule_type__exact", "C"),
]


@pytest.mark.django_db
def test_django_and_django_q2_admins_refuse_lookups_no_filter_offers(admin_client, record: Record) -> None:
    record("Denial of service", "the same hostile lookups on Django's User/Group and django-q2's admins "
           f"({len(THIRD_PARTY_REFUSED)}, incl. `password__startswith`)",
           "400 before any query carries the lookup; their offered filters answer 200")
    for label, name, value in THIRD_PARTY_REFUSED:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(changelist(label), {name: value}, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400, (label, name, value, response.status_code)
        assert f"Filtering by “{name}” is not offered on this page" in response.content.decode()
        assert not [q for q in queries.captured_queries if value in q["sql"] and len(value) > 2], (label, name)
        assert not [q for q in queries.captured_queries if "REGEX" in q["sql"].upper()], (label, name)
    from django.contrib.auth.models import Group

    group_id = str(Group.objects.get_or_create(name="Test group")[0].pk)
    for label, name, value in THIRD_PARTY_OFFERED:
        value = group_id if value == "<a group's id>" else value
        response = admin_client.get(changelist(label), {name: value})
        assert response.status_code == 200, (label, name, value, response.status_code)
    record.saw(f"{len(THIRD_PARTY_REFUSED)} lookups on auth/django-q2 changelists → 400, no query carried "
               f"them; {len(THIRD_PARTY_OFFERED)} offered filters → 200")


@pytest.mark.django_db
def test_a_request_over_the_database_time_limit_is_stopped(admin_client, settings, caplog,
                                                           record: Record) -> None:
    record("Denial of service", "a changelist search over 3,000 rows with the per-request database limit "
           "(DJANGO_REQUEST_DB_TIMEOUT_S) already used up",
           "503 with a clear message; the next request under the normal limit answers 200")
    from tests.fixtures.database import using_mongodb

    # SQLite: the progress handler aborts the statement (3,000 rows: well over its 10,000 VM steps);
    # MongoDB: the server stops the read with ExecutionTimeout (maxTimeMS = the 1 ms left), whatever the
    # collection's size — 20 documents, as inserting thousands into the in-memory, pure-Python test
    # server can outlast the driver's 20 s socket timeout on a loaded machine. Either way the database
    # itself stopped the work (checked below from the log line naming the error).
    _facts(20 if using_mongodb() else 3000)
    settings.REQUEST_DB_TIMEOUT_S = 1e-6
    stopped = admin_client.get(changelist("sync.salesfact"), {"q": "no-such-code"}, HTTP_ACCEPT_LANGUAGE="en")
    assert stopped.status_code == 503, stopped.status_code
    assert "took longer than" in stopped.content.decode()
    [stop] = [r.getMessage() for r in caplog.records if "stopped at the database time limit" in r.getMessage()]
    # What stopped it is the database's own limit: MongoDB's error 50, SQLite's interrupted statement.
    assert ("ExecutionTimeout" if using_mongodb() else "OperationalError: interrupted") in stop, stop
    settings.REQUEST_DB_TIMEOUT_S = 30
    assert admin_client.get(changelist("sync.salesfact"), {"q": "no-such-code"}).status_code == 200
    record.saw("over the limit → 503 “This request took longer than … and was stopped”; next request → 200")


# --- webhook flood -----------------------------------------------------------------------------------


def _envelope(n: int, day: date) -> str:
    occurred = datetime.combine(day, time(7, 0), tzinfo=UTC)  # 12:00 in Tashkent
    return json.dumps({
        "action": "HandleWebhook", "event_id": f"flood-{n}", "occurred_at": occurred.isoformat(),
        "connected_integration_id": REGOS_TEST_KEY,
        "data": {"action": "DocChequeClosed", "data": {"uuid": f"flood-doc-{n}"}},
    })


@pytest.mark.django_db
def test_a_webhook_flood_costs_one_task_at_a_time(settings, monkeypatch, django_capture_on_commit_callbacks,
                                                   record: Record) -> None:
    record("Denial of service", "webhook flood: 1,000 valid events on 50 past days + 2000-01-02 and 2099, then "
           "200 more while the re-sync runs",
           "one task queued at a time; scattered days → one run; out-of-window days stored as ignored; one "
           "follow-up for the events during the run")
    settings.REGOS_INTEGRATION_KEY = REGOS_TEST_KEY
    enqueued: list[Any] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: enqueued.append(a) or "task-id")
    monkeypatch.setattr(inbox, "_refetch_days", lambda days, claimed_at: set())  # no REGOS in this test
    now = today()
    past = [now - timedelta(days=2 * k) for k in range(1, 51)]  # 50 scattered days, 2..100 days back
    in_window = [d for d in past if d >= now - timedelta(days=inbox.WEBHOOK_MAX_AGE_DAYS)]
    outside = [date(2000, 1, 2), date(2099, 6, 1)]
    browser = Client()

    def post(n: int, day: date) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return browser.post("/regos/webhook/", data=_envelope(n, day), content_type="application/json").status_code

    statuses = Counter(post(n, [*past, *outside][n % 52]) for n in range(1000))
    assert statuses == Counter({200: 1000})
    assert len(enqueued) == 1
    assert set(DirtyDay.objects.values_list("date", flat=True)) == set(in_window)
    ignored = WebhookEvent.objects.filter(status=WebhookEvent.Status.IGNORED).count()
    expected_ignored = sum(1 for n in range(1000) if [*past, *outside][n % 52] not in in_window)
    assert ignored == expected_ignored

    runs: list[tuple[date, date]] = []
    during = [now - timedelta(days=1), now, now - timedelta(days=3)]

    def execute(first: date, last: date) -> tuple[Any, bool]:
        if not runs:  # the flood goes on while the first run works
            for n in range(1000, 1200):
                assert post(n, during[n % 3]) == 200
        runs.append((first, last))
        return SimpleNamespace(pk="run", status=SyncRun.Status.SUCCEEDED), True

    monkeypatch.setattr(inbox, "_execute_range", execute)
    with django_capture_on_commit_callbacks(execute=True):  # the worker has no transaction around it
        inbox.inbox_resync_execute()
    assert runs == [(min(in_window), max(in_window))]  # one run over the scattered days
    assert len(enqueued) == 2  # the one follow-up, requested by the task itself
    with django_capture_on_commit_callbacks(execute=True):
        inbox.inbox_resync_execute()  # the follow-up
    assert runs[1:] == [(now - timedelta(days=3), now - timedelta(days=3)), (now - timedelta(days=1), now)]
    assert len(enqueued) == 2 and not DirtyDay.objects.exists()
    tasks, run_count = len(enqueued), len(runs)
    record.saw(f"1,200 events → {tasks} tasks, {run_count} runs ({len(in_window)} scattered days in one run; "
               f"the follow-up: 2 ranges); {ignored} events outside the window (2000-01-02, 2099-06-01, > "
               f"{inbox.WEBHOOK_MAX_AGE_DAYS} days back) stored as ignored")


# --- login throttle under parallel attempts ---------------------------------------------------------


class PasswordChecks:
    """Counts ``check_password`` calls (the expensive, guessable step) by password."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: Counter[str] = Counter()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = AbstractBaseUser.check_password

        def counting(user: AbstractBaseUser, raw_password: str) -> bool:
            with self.lock:
                self.seen["right" if raw_password == PASSWORD else "wrong"] += 1
            return original(user, raw_password)

        monkeypatch.setattr(AbstractBaseUser, "check_password", counting)


def burst(passwords: list[str], address: str) -> list[int]:
    """POST every login at the same instant (one thread and one DB connection each)."""
    barrier = threading.Barrier(len(passwords))
    statuses: list[int] = [0] * len(passwords)

    def attempt(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            statuses[i] = Client().post(LOGIN, {"username": "buxgalter", "password": passwords[i], "next": "/"},
                                        REMOTE_ADDR=address).status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(passwords))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


@pytest.mark.django_db(transaction=True)
def test_parallel_login_attempts_check_at_most_five_passwords(accountant, monkeypatch, record: Record) -> None:
    record("Security", "brute force in parallel: 40 wrong passwords at the same instant; then a burst of 15 "
           "wrong + the right one from another address",
           "passwords checked per burst ≤ 5 (attempt claimed before the check); the right password refused "
           "afterwards")
    checks = PasswordChecks()
    checks.install(monkeypatch)
    statuses = Counter(burst(["wrong-password"] * 40, "203.0.113.40"))
    assert checks.seen["wrong"] <= 5 and statuses[200] == checks.seen["wrong"]
    assert statuses[429] == 40 - checks.seen["wrong"]
    wrong_checked = checks.seen["wrong"]
    assert Client().post(LOGIN, {"username": "buxgalter", "password": PASSWORD},
                         REMOTE_ADDR="203.0.113.40").status_code == 429
    assert checks.seen["right"] == 0

    checks.seen.clear()
    mixed = burst(["wrong-password"] * 15 + [PASSWORD], "203.0.113.41")
    assert checks.seen["wrong"] <= 5
    assert checks.seen["right"] <= 1 and (mixed[-1] == 302) == (checks.seen["right"] == 1)
    record.saw(f"40 at once: {wrong_checked} passwords checked, {40 - wrong_checked} refused (429) unchecked; "
               f"the right password afterwards: 429, not checked; 15 wrong + right at once: "
               f"{checks.seen['wrong']} wrong checked, right one {'checked' if checks.seen['right'] else 'refused'}")
    from tests.reliability.support import record_extra

    record_extra("throttle_parallel", {"burst": 40, "checked": wrong_checked})


@pytest.mark.django_db
def test_the_lock_lasts_fifteen_minutes_from_the_last_failure(accountant, record: Record) -> None:
    record("Security", "5 failures spread over 10 minutes (4, then 1 ten minutes later)",
           "locked until 15 minutes after the last failure, as the README says")
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def attempt(minutes: float, password: str) -> int:
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            return Client().post(LOGIN, {"username": "buxgalter", "password": password},
                                 REMOTE_ADDR="203.0.113.60").status_code

    assert [attempt(0, "nope") for _ in range(4)] == [200] * 4
    assert attempt(10, "nope") == 200  # the 5th
    assert attempt(16, PASSWORD) == 429  # 16 min after the first, 6 after the last: still locked
    assert attempt(24.9, PASSWORD) == 429
    assert attempt(25.1, PASSWORD) == 302
    record.saw("4 failures at 0 min, 1 at 10 min → right password refused at 16 and 24.9 min, accepted at 25.1")


# --- slow clients against a real gunicorn ----------------------------------------------------------


class Drippers:
    """Connections that send a request line, then one header line every ``every`` seconds, never ending.

    Bounded: each sends at most ``max_lines`` lines. ``lines_sent`` and ``closed`` are read by the test."""

    def __init__(self, port: int, count: int, every: float, max_lines: int = 120) -> None:
        self.port, self.every, self.max_lines = port, every, max_lines
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.lines_sent = [0] * count
        self.closed = 0
        self.threads = [threading.Thread(target=self._drip, args=(i,), daemon=True) for i in range(count)]

    def __enter__(self) -> Drippers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _drip(self, i: int) -> None:
        import select
        import socket

        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            try:
                sock.sendall(b"GET /health/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                self.lines_sent[i] = 1
                while self.lines_sent[i] < self.max_lines and not self.stop.is_set():
                    # The pause between two lines doubles as the watch for the server closing the socket.
                    readable, _, _ = select.select([sock], [], [], self.every)
                    if readable and not sock.recv(1024):
                        raise ConnectionResetError("closed by the server")
                    sock.sendall(f"X-Drip-{self.lines_sent[i]}: {i}\r\n".encode())
                    self.lines_sent[i] += 1
            except OSError:
                with self.lock:
                    self.closed += 1

    def wait_closed(self, count: int, timeout: float) -> int:
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while self.closed < count and datetime.now(UTC) < deadline:
            self.stop.wait(0.05)
        return self.closed


@pytest.mark.slow
def test_slow_clients_do_not_take_every_thread_of_gunicorn(tmp_path, record: Record) -> None:
    record("Denial of service", "8 connections dripping one header line a second at gunicorn (deploy/"
           "gunicorn.conf.py, 1 worker × 2 threads, GUNICORN_READ_TIMEOUT=2), no proxy in front",
           "/health/ answers during the drip; the server closes the dripping connections")
    import subprocess

    import requests

    from tests.fixtures.processes import start_group, stop_group
    from tests.test_production import ROOT, production_env, wait_for_gunicorn

    env = production_env(tmp_path, GUNICORN_READ_TIMEOUT="2")  # its own SQLite file, whatever the test DB
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        proc = start_group([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                            "regos_admin.wsgi:application"], cwd=ROOT, env=env, log=out)
    try:
        base = wait_for_gunicorn(proc, log)
        port = int(base.rsplit(":", 1)[1])
        with Drippers(port, count=8, every=1.0) as drippers:
            # Ready when every dripper has sent a header line after its request line: by then both
            # threads hold a dripper and the other six wait in the queue (4 × the threads).
            deadline = datetime.now(UTC) + timedelta(seconds=60)
            while min(drippers.lines_sent) < 2 and datetime.now(UTC) < deadline:
                drippers.stop.wait(0.05)
            assert min(drippers.lines_sent) >= 2, drippers.lines_sent
            health = requests.get(f"{base}/health/", timeout=60)  # without the read deadline: never
            still_dripping = sum(1 for n in drippers.lines_sent if n < drippers.max_lines)
            closed = drippers.wait_closed(8, timeout=60)
    finally:
        stop_group(proc)
    assert health.status_code in (200, 503) and health.json()["status"] in ("ok", "stale")
    assert still_dripping == 8  # the drip went on during the probe: it was not waited out
    assert closed == 8, closed  # every dripper's connection was closed by the server
    text = log.read_text()
    assert text.count("request not read within 2.0s") >= 8, text[-2000:]
    record.saw(f"/health/ answered {health.status_code} during the drip; {closed} of 8 dripping connections "
               "closed by the server (“request not read within 2.0s”)")
