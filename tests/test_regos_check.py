"""`manage.py regos_check`: passes on a configured installation (emulator + a real qcluster) and names
the fix for a wrong key, unapplied migrations, a dead worker and an unreachable Redis."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from sync.management.commands import regos_check
from sync.models import KeyValue
from sync.regos.emulator import FakeRegosServer, generate_dataset
from sync.regos.ratelimit import reset_shared_limiters
from sync.regos.shared_limit import reset_limiter_cache
from tests.fixtures.processes import start_group, stop_group
from tests.fixtures.redis import redis_server, redis_url  # noqa: F401 — fixtures

ROOT = Path(__file__).resolve().parent.parent
KEY = "check0regos0test0key0000000000001"
WRONG_KEY = "check0regos0wrong0key000000000002"


@pytest.fixture
def emulator():
    server = FakeRegosServer(dataset=generate_dataset(seed=11, stocks=2, days=2, cheques_per_day=3), key=KEY)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def configured(settings, emulator):
    settings.REGOS_BASE_URL = emulator.base_url
    settings.REGOS_INTEGRATION_KEY = KEY
    settings.REDIS_URL = ""
    settings.REGOS_RATE_LIMIT_STORE = "auto"
    reset_limiter_cache()
    reset_shared_limiters()
    yield settings
    reset_limiter_cache()
    reset_shared_limiters()


def install_schedules_and_heartbeat(*, beat_age: timedelta = timedelta(seconds=5)) -> None:
    from sync.schedule import schedule_install

    schedule_install()
    KeyValue.objects.update_or_create(key=regos_check.HEARTBEAT_KEY, defaults={"value": "test"})
    KeyValue.objects.filter(key=regos_check.HEARTBEAT_KEY).update(updated_at=timezone.now() - beat_age)


def run_check(*args: str) -> tuple[str, bool]:
    """(output, passed)"""
    out = io.StringIO()
    try:
        call_command("regos_check", *args, stdout=out, no_color=True)
    except CommandError as exc:
        return out.getvalue() + f"\n{exc}", False
    return out.getvalue(), True


def line(output: str, name: str) -> str:
    found = [text for text in output.splitlines() if text.split(":")[0].endswith(f"] {name}")]
    assert found, f"no line for {name!r} in:\n{output}"
    return found[0]


def fix_after(output: str, name: str) -> str:
    lines = output.splitlines()
    index = lines.index(line(output, name))
    assert lines[index + 1].strip().startswith("fix:"), output
    return lines[index + 1]


@pytest.fixture
def qcluster(test_database_url, tmp_path):
    """A real django-q2 cluster on the test database (scheduler off: it only runs tasks)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGOS_", "REDIS_", "DJANGO_Q_"))}
    env.update(DATABASE_URL=test_database_url, DJANGO_Q_SCHEDULER="false", DJANGO_Q_WORKERS="1",
               DJANGO_SETTINGS_MODULE="regos_admin.settings")
    log = tmp_path / "qcluster.log"
    with log.open("w") as out:
        proc = start_group([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, log=out)
    yield proc
    stop_group(proc)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_passes_on_a_configured_installation(configured, emulator, qcluster):
    install_schedules_and_heartbeat()

    output, passed = run_check("--worker-timeout", "60")

    assert passed, output
    for name in ("django checks", "database", "migrations", "rate limit", "REGOS key", "REGOS data", "worker",
                 "scheduler", "schedule"):
        assert line(output, name).startswith("[ok]"), output
    assert "shared by all workers in the database" in line(output, "rate limit")
    assert "a worker ran a test task" in line(output, "worker")
    assert "regos-daily-sync installed" in line(output, "schedule")
    assert "All 9 checks passed." in output
    assert KEY not in output
    assert "7 listings read" in line(output, "REGOS data") and "every row valid" in line(output, "REGOS data")
    # One cheap call for the key, then one small page of each listing the sync reads.
    assert emulator.stats.by_method.get("Stock/Get") == 2
    for method in ("DocCheque/Get", "DocWholeSale/Get", "DocWholeSaleReturn/Get", "DocCashSession/Get",
                   "OperatingCash/Get", "User/Get"):
        assert emulator.stats.by_method.get(method) == 1, method


@pytest.mark.django_db(transaction=True)
def test_wrong_key_names_the_fix_without_printing_the_key(configured, emulator):
    configured.REGOS_INTEGRATION_KEY = WRONG_KEY
    install_schedules_and_heartbeat()

    output, passed = run_check("--worker-timeout", "0.5")

    assert not passed
    assert line(output, "REGOS key").startswith("[FAIL]")
    assert "refused the key (error 1096" in line(output, "REGOS key")
    assert "REGOS_INTEGRATION_KEY" in fix_after(output, "REGOS key")
    assert WRONG_KEY not in output and KEY not in output


@pytest.mark.django_db(transaction=True)
def test_entities_our_models_reject_fail_the_check(configured):
    """Issue 15: the key was accepted, so every check passed, while REGOS sent cheques the sync rejects."""
    server = FakeRegosServer(dataset=generate_dataset(seed=11, stocks=2, days=2, cheques_per_day=3), key=KEY,
                             fault_plan="DocCheque/Get#*:amount-missing")
    server.start()
    try:
        configured.REGOS_BASE_URL = server.base_url
        install_schedules_and_heartbeat()
        output, passed = run_check("--worker-timeout", "0.5")
    finally:
        server.stop()
    assert not passed
    assert line(output, "REGOS key").startswith("[ok]")
    data = line(output, "REGOS data")
    assert data.startswith("[FAIL]") and "1 of 7 listings unreadable" in data, output
    assert "DocCheque/Get" in data and "amount" in data, data
    assert "REGOS sends data this version cannot read" in fix_after(output, "REGOS data")
    assert KEY not in output


@pytest.mark.django_db(transaction=True)
def test_dead_worker_names_the_fix(configured, emulator):
    install_schedules_and_heartbeat(beat_age=timedelta(minutes=42))

    output, passed = run_check("--worker-timeout", "1")

    assert not passed
    assert line(output, "REGOS key").startswith("[ok]")
    assert line(output, "worker").startswith("[FAIL]")
    assert "no worker ran a test task within 1 s" in line(output, "worker")
    assert "regos-admin-worker" in fix_after(output, "worker")
    assert "last worker heartbeat 42 min ago" in line(output, "scheduler")
    assert "DJANGO_Q_SCHEDULER" in fix_after(output, "scheduler")
    assert "check(s) failed: worker, scheduler" in output
    # The unanswered test task was taken back out of the queue.
    from django_q.models import OrmQ

    assert not OrmQ.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_unreachable_redis_names_the_fix(configured, emulator):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        configured.REDIS_URL = f"redis://127.0.0.1:{unused.getsockname()[1]}/0"
        install_schedules_and_heartbeat()

        output, passed = run_check("--worker-timeout", "0.5")

    assert not passed
    assert line(output, "redis").startswith("[FAIL]")
    assert "systemctl start redis-server" in fix_after(output, "redis")
    assert line(output, "rate limit").startswith("[FAIL]")  # the shared bucket lives in Redis now


@pytest.mark.django_db(transaction=True)
def test_reports_redis_and_the_shared_bucket_in_it(configured, emulator, redis_url):  # noqa: F811
    configured.REDIS_URL = redis_url
    install_schedules_and_heartbeat()

    output, _passed = run_check("--worker-timeout", "0.5")

    assert line(output, "redis").startswith("[ok] redis: Redis ")
    assert "shared by all workers in Redis" in line(output, "rate limit")
    assert line(output, "REGOS key").startswith("[ok]")  # the test call took its token from Redis
    assert KEY not in output and redis_url not in output


def unmigrated_database_url(test_database_url: str, tmp_path: Path) -> str:
    parts = urlsplit(test_database_url)
    if parts.scheme.startswith("mongodb"):
        return urlunsplit(parts._replace(path=parts.path + "_unmigrated"))
    return f"sqlite:///{tmp_path / 'unmigrated.sqlite3'}"


@pytest.mark.django_db
def test_missing_migrations_name_the_fix(emulator, tmp_path, test_database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGOS_", "REDIS_", "DJANGO_Q_"))}
    env.update(DATABASE_URL=unmigrated_database_url(test_database_url, tmp_path),
               REGOS_BASE_URL=emulator.base_url, REGOS_INTEGRATION_KEY=KEY,
               DJANGO_SETTINGS_MODULE="regos_admin.settings")
    done = subprocess.run([sys.executable, "manage.py", "regos_check", "--worker-timeout", "1"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)

    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert line(output, "database").startswith("[ok]")
    assert line(output, "migrations").startswith("[FAIL]")
    assert "not applied (" in line(output, "migrations")
    assert "manage.py migrate" in fix_after(output, "migrations")
    assert "manage.py migrate" in fix_after(output, "schedule")
    assert "Traceback" not in output
    assert KEY not in output
