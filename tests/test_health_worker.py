"""Worker detection across processes: a real qcluster's scheduler fires the heartbeat; /health/ sees it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from django.test import Client

from sync.health import HEARTBEAT_KEY
from sync.models import KeyValue
from sync.schedule import DAILY_NAME, schedule_install
from tests.fixtures.processes import start_group, stop_group

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 120  # the scheduler ticks about every 30 s; this is a deadline, not a measurement


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_running_qcluster_is_seen_alive_by_health(tmp_path, test_database_url: str) -> None:
    from django_q.models import Schedule, Success

    schedule_install()
    # Only the heartbeat may fire here: the daily sync is paused (repeats=0), not deleted.
    Schedule.objects.filter(name=DAILY_NAME).update(repeats=0)
    assert Client().get("/health/").json()["worker"]["alive"] is False

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REGOS_", "REDIS_"))}
    env.update(DATABASE_URL=test_database_url, DJANGO_Q_WORKERS="1")
    log = tmp_path / "qcluster.log"
    with log.open("w") as out:
        cluster = start_group([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, log=out)
    try:
        deadline = time.monotonic() + WAIT_S
        while not KeyValue.objects.filter(key=HEARTBEAT_KEY).exists() and time.monotonic() < deadline:
            assert cluster.poll() is None, log.read_text()
            time.sleep(0.5)
        assert KeyValue.objects.filter(key=HEARTBEAT_KEY).exists(), log.read_text()
        body = Client().get("/health/").json()
    finally:
        stop_group(cluster)
    assert body["worker"]["alive"] is True
    # Heartbeats are not kept as django-q2 successes (they would crowd out the real history).
    assert not Success.objects.filter(func="sync.jobs.worker_heartbeat").exists()
