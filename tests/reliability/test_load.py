"""The panel under load while a sync runs: 50 accountants for ``REGOS_LOAD_SECONDS`` (locust, headless).

- The web server is production-shaped: gunicorn (``deploy/gunicorn.conf.py``, 2 workers × 4 threads),
  ``DJANGO_DEBUG=false``, static files collected and served by whitenoise, on 127.0.0.1 and a free port,
  against the test database (a file on SQLite, the test server on MongoDB).
- The data: a month of history written by hand before the sync window, then ``manage.py regos_sync``
  of the next 30 days running in its own process against the emulator, paced (REGOS_RATE_PER_SEC) so
  that it writes day after day during the whole load window.
- 50 accountants (own users, own sessions) browse history (all branches or one), the monthly summary,
  the drill-down into a row's documents, and export CSV and XLSX, with 0.5–2 s think time.

Asserted: zero failed requests (any non-200, a login redirect or a wrong content type is a failure),
and the sync really progressed during the window. Latency percentiles are recorded for the README, not
asserted. ``REGOS_LOAD_SECONDS`` sets the window (default 60 s).

In the MongoDB pass the test is skipped unless ``REGOS_LOAD_ON_MONGODB=1``: the test server there is
mongoeco, an in-memory MongoDB written in Python that answers one query at a time, so 50 concurrent
users measure mongoeco, not regos-admin (a trial run: 0 failures, but p50 10 s and 21 requests in 20 s,
and 90 s of wall time). The load figures of the README come from the SQLite pass.
"""

from __future__ import annotations

import csv
import os
import random
import re
import secrets
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from payroll.apps import ACCOUNTANTS
from payroll.models import Branch, DailySalesHistory, Employee
from sync.models import SyncRun
from tests.fixtures.processes import start_group, stop_group
from tests.reliability.support import (
    ROOT,
    Record,
    child_env,
    make_world,
    record_extra,
    stop_process,
    wait_until,
)

USERS = 50
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def load_seconds() -> int:
    return int(os.environ.get("REGOS_LOAD_SECONDS") or 60)


def seed_history(first_day, days: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Hand-written history for ``days`` days before ``first_day``: every branch, 3 sellers + unassigned."""
    rng = random.Random(7)
    rows = []
    employees = list(Employee.objects.order_by("full_name"))
    for n in range(1, days + 1):
        day = first_day - timedelta(days=n)
        for b, branch in enumerate(Branch.objects.order_by("name")):
            for employee in [*employees[b * 3:b * 3 + 3], None]:
                sales = Decimal(rng.randrange(100, 5000) * 1000)
                rows.append(DailySalesHistory(
                    date=day, branch=branch, employee=employee,
                    employee_key=DailySalesHistory.key_for(employee.pk if employee else None),
                    retail_sales=sales, total_sales=sales, cheque_count=rng.randrange(1, 40),
                ))
    DailySalesHistory.objects.bulk_create(rows, batch_size=500)
    sample = rows[:: max(1, len(rows) // 20)]
    return [f"/reports/history/{r.date.isoformat()}/{r.branch_id}/{r.employee_key}/" for r in sample]


def accountant_sessions(count: int) -> list[str]:
    users = get_user_model().objects.bulk_create([
        get_user_model()(username=f"buxgalter{n:02d}", is_staff=True, password="!")  # noqa: S106 — unusable
        for n in range(count)
    ])
    users = list(get_user_model().objects.filter(username__startswith="buxgalter"))
    Group.objects.get(name=ACCOUNTANTS).user_set.add(*users)
    keys = []
    for user in users:
        browser = Client()
        browser.force_login(user)
        keys.append(browser.cookies["sessionid"].value)
    return keys


def collect_static(env: dict[str, str]) -> subprocess.Popen:
    """``collectstatic`` (hashed, compressed: what whitenoise serves with DEBUG off), in the background."""
    return subprocess.Popen([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def start_gunicorn(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str, Path]:
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        proc = start_group(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "regos_admin.wsgi:application"],
            cwd=ROOT, env=env, log=out,
        )

    def listening() -> str | None:
        assert proc.poll() is None, log.read_text()
        found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text())
        return found.group(1) if found else None

    try:
        base = wait_until(listening, timeout=60, what="gunicorn to listen")
    except BaseException:
        stop_group(proc)
        raise
    return proc, base, log


def aggregated(stats_csv: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    with stats_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    total = next(row for row in rows if row["Name"] == "Aggregated")
    return total, [row for row in rows if row["Name"] != "Aggregated"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_fifty_accountants_browse_and_export_while_a_sync_runs(
    regos_server, settings, tmp_path, on_mongodb: bool, record: Record
) -> None:  # type: ignore[no-untyped-def]
    seconds = load_seconds()
    record("Load", f"{USERS} accountants (locust, headless) browse history/summary/drill-down and export "
           f"CSV/XLSX for {seconds} s against gunicorn (2×4), while `regos_sync` writes a month",
           "0 failed requests; the sync keeps writing; p95 reported")
    if on_mongodb and os.environ.get("REGOS_LOAD_ON_MONGODB") != "1":
        record.saw("skipped on mongoeco (one query at a time: it would measure the test server)")
        pytest.skip("mongoeco answers one query at a time; load figures come from the SQLite pass "
                    "(REGOS_LOAD_ON_MONGODB=1 runs it anyway)")
    # One secret for this process (which makes the sessions) and the server (which checks them).
    settings.SECRET_KEY = secrets.token_urlsafe(64)
    database = os.environ["DATABASE_URL"]
    web_env = child_env(
        DATABASE_URL=database, DJANGO_DEBUG="false", DJANGO_SECRET_KEY=settings.SECRET_KEY,
        DJANGO_ALLOWED_HOSTS="127.0.0.1", DJANGO_STATIC_ROOT=str(tmp_path / "static"), HOST="127.0.0.1",
        PORT="0", WEB_CONCURRENCY="2", GUNICORN_THREADS="4",
    )
    collecting = collect_static(web_env)
    world = make_world(seed=31, stocks=5, users=12, range_days=30, cheques_per_day=12, wholesale_per_day=2)
    server = regos_server(world.ds, page_cap=10)
    fact_urls = seed_history(world.first, 30)
    sessions = accountant_sessions(USERS)
    date_from, date_to = world.first - timedelta(days=30), world.last
    # Paced so that the month's REGOS requests (page cap 10) last the whole window and a bit more.
    counts = world.ds.counts(world.first, world.last)
    pages = sum(-(-n // 10) for n in (counts.closed_cheques, counts.sessions, counts.wholesale,
                                       counts.wholesale_returns)) + 6
    rate = f"{pages / (seconds + 15):.3f}"
    sync_log = tmp_path / "sync.log"
    with sync_log.open("w") as out:
        syncing = subprocess.Popen(
            [sys.executable, "manage.py", "regos_sync", "--from", world.first.isoformat(), "--to",
             world.last.isoformat()], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=child_env(DATABASE_URL=database, REGOS_BASE_URL=server.base_url, REGOS_INTEGRATION_KEY=server.key,
                          REGOS_RATE_PER_SEC=rate, REGOS_BURST="1"),
        )
    web = None
    try:
        output, _ = collecting.communicate(timeout=300)
        assert collecting.returncode == 0, output.decode()
        web, base, web_log = start_gunicorn(tmp_path, web_env)
        run = wait_until(lambda: SyncRun.objects.filter(days_done__gte=1).first(), timeout=120,
                         what="the sync to write its first day")
        days_before = run.days_done
        prefix = tmp_path / "locust"
        env = child_env(
            LOAD_SESSIONS=",".join(sessions), LOAD_DATE_FROM=date_from.isoformat(),
            LOAD_DATE_TO=date_to.isoformat(), LOAD_BRANCHES=",".join(str(b) for b in Branch.objects.values_list(
                "pk", flat=True)), LOAD_FACT_URLS=" ".join(fact_urls),
            LOAD_MONTHS=",".join(sorted({f"{d:%Y-%m}" for d in (date_from, date_to)})),
        )
        locust = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(USERS), "-r",
             str(USERS), "--run-time", f"{seconds}s", "--stop-timeout", "5", "--host", base, "--csv",
             str(prefix), "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 180,
        )
        run.refresh_from_db()
        sync_state = (run.status, run.days_done)
    finally:
        stop_process(syncing)
        if web is not None:
            stop_group(web)
    assert locust.returncode == 0, locust.stdout[-3000:] + locust.stderr[-3000:]
    total, endpoints = aggregated(Path(f"{prefix}_stats.csv"))
    failures = (Path(f"{prefix}_failures.csv").read_text() if Path(f"{prefix}_failures.csv").exists() else "")
    requests_made, failed = int(total["Request Count"]), int(total["Failure Count"])
    assert requests_made > USERS, total
    assert failed == 0, failures + web_log.read_text()[-3000:]
    assert sync_state[1] > days_before or sync_state[0] == SyncRun.Status.SUCCEEDED, (sync_state, days_before)
    assert sync_state[0] in (SyncRun.Status.RUNNING, SyncRun.Status.SUCCEEDED), sync_log.read_text()[-2000:]

    figures = {
        "seconds": seconds, "users": USERS, "cpus": os.cpu_count(), "web": "gunicorn 2 workers × 4 threads",
        "requests": requests_made, "failures": failed,
        "rps": float(total["Requests/s"]), "p50_ms": float(total["50%"]), "p95_ms": float(total["95%"]),
        "p99_ms": float(total["99%"]), "max_ms": float(total["Max Response Time"]),
        "sync_days_written_during_load": sync_state[1] - days_before, "sync_status_after": sync_state[0],
        "endpoints": {row["Name"]: {"requests": int(row["Request Count"]), "p95_ms": float(row["95%"])}
                      for row in endpoints},
    }
    record_extra("load", figures)
    record.saw(f"{requests_made} requests, {failed} failed, {figures['rps']:.1f} req/s, p50 {figures['p50_ms']:.0f} "
               f"ms, p95 {figures['p95_ms']:.0f} ms, p99 {figures['p99_ms']:.0f} ms; the sync wrote "
               f"{figures['sync_days_written_during_load']} more day(s) meanwhile ({sync_state[0]})")
