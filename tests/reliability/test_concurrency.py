"""Concurrency: many triggers at once, two workers on one broker, redelivered tasks.

- Ten "Sync now" presses (ten logged-in browsers = ten Django test clients, each in its own thread
  with its own database connection) for overlapping ranges, plus the daily schedule's job
  (``sync.jobs.scheduled_sync``), all released at the same instant: exactly one run is created, every
  press is redirected to it, the schedule joins it (or is the one that created and ran it), and the
  broker receives at most one task for it. The run then executes once — even when the task is
  delivered three times at once — and the result equals the oracle with REGOS read once.
- Two real ``manage.py qcluster`` processes on the ORM broker, with the run's task enqueued twice
  (a redelivery): one worker runs it, the other's delivery has no visible effect; a third delivery
  after the run ended writes nothing (``updated_at`` of every fact and history row unchanged).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from payroll.dates import today
from sync import services
from sync.models import SyncRun
from sync.tasks import sync_run_task
from tests.fixtures.processes import start_group, stop_group
from tests.reliability.oracle import database_state
from tests.reliability.support import (
    ROOT,
    Record,
    assert_state,
    child_env,
    fast_client,
    make_world,
    wait_until,
)
from tests.sync_data import dump_facts, dump_history

PAGE = 5


def in_threads(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run the jobs in threads released together by a barrier; results in job order (or the exception)."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def runner(index: int, job: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = job()
        except BaseException as exc:  # noqa: BLE001 — reported by the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a trigger thread hung"
    return results


def one_listing_requests(world) -> int:  # type: ignore[no-untyped-def]
    """DocCheque/Get requests a single read of the range takes (counted by the emulator)."""
    regos = fast_client()
    try:
        # Requests, not pages: a last page full to the cap is confirmed by one request more.
        for _ in regos.iter_cheques(first_day=world.first, last_day=world.last):
            pass
        return regos.stats.by_method.get("DocCheque/Get", 0)
    finally:
        regos.close()


@pytest.mark.django_db(transaction=True)
def test_ten_sync_now_presses_and_the_schedule_make_one_run(
    regos_server, admin_user, settings, record: Record
) -> None:  # type: ignore[no-untyped-def]
    from django_q.models import OrmQ

    from sync.jobs import scheduled_sync

    record(
        "Concurrency", "10 × Sync now (overlapping ranges) + the daily schedule, released at once",
        "one run; every trigger points at it; executed once, REGOS read once; = oracle",
    )
    settings.REGOS_LOOKBACK_DAYS = 3
    world = make_world(days_back=0, range_days=3, cheques_per_day=8)
    # Whichever run executes while the triggers arrive (the schedule runs its run inline) is held at
    # its first REGOS request until all ten presses were answered: "at once" is then certain.
    pressed, lock, all_pressed = [0], threading.Lock(), threading.Event()

    def hold(_seconds: float) -> None:
        all_pressed.wait(120)

    server = regos_server(world.ds, page_cap=PAGE, fault_plan="1:slow=1", sleep=hold)
    now = today()
    ranges = [(now - timedelta(days=2 + i % 3), now - timedelta(days=i % 2)) for i in range(10)]

    def press(first, last) -> Callable[[], Any]:  # type: ignore[no-untyped-def]
        def job() -> Any:
            try:
                client = Client()
                client.force_login(admin_user)
                return client.post(
                    "/sync/now/", {"date_from": first.isoformat(), "date_to": last.isoformat()}
                )
            finally:
                with lock:
                    pressed[0] += 1
                    if pressed[0] == 10:
                        all_pressed.set()

        return job

    results = in_threads([*(press(a, b) for a, b in ranges), scheduled_sync])
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    runs = list(SyncRun.objects.all())
    assert len(runs) == 1, [(r.trigger, r.date_from, r.date_to, r.status) for r in runs]
    run = runs[0]
    statuses = [(r.status_code, r.get("Location")) for r in results[:10]]
    assert all(code == 302 for code, _ in statuses), [
        (code, r.content.decode()[:2000]) for (code, _), r in zip(statuses, results, strict=False) if code != 302
    ]
    locations = {location for _, location in statuses}
    assert locations == {f"/sync/runs/{run.pk}/"}, locations
    schedule_said = results[10]
    tasks = OrmQ.objects.count()
    if run.trigger == SyncRun.Trigger.SCHEDULE:
        assert (tasks, run.status) == (0, SyncRun.Status.SUCCEEDED), (schedule_said, run.error)  # ran inline
    else:
        assert (schedule_said, tasks) == ("joined an active run", 1)
    said = str(schedule_said).replace(str(run.pk), "<run>")
    record.saw(f"1 run (created by {run.trigger}, {run.date_from}…{run.date_to}), 10/10 presses redirected to "
               f"it, schedule: “{said}”, {tasks} task(s) enqueued; executed once, = oracle of its range")

    server.set_fault_plan(None)
    if run.trigger != SyncRun.Trigger.SCHEDULE:
        sync_run_task(str(run.pk))  # the worker's delivery of the one enqueued task
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    # The range is the one of whichever trigger won the gate (a press or the schedule's lookback).
    expected = world.oracle(run.date_from, run.date_to)
    assert_state(database_state(), expected)
    assert run.documents_seen == len(expected.facts)


@pytest.mark.django_db(transaction=True)
def test_a_task_delivered_three_times_at_once_runs_once(regos_server, record: Record) -> None:  # type: ignore[no-untyped-def]
    record(
        "Concurrency", "one queued run's task delivered 3 times at the same instant (threads, own DB "
        "connections)", "one execution: REGOS read once, no double count; the others return untouched",
    )
    world = make_world(range_days=3, cheques_per_day=8)
    server = regos_server(world.ds, page_cap=PAGE)
    run, created = services.sync_run_request(date_from=world.first, date_to=world.last, trigger="user")
    assert created

    deliveries = in_threads([lambda: sync_run_task(str(run.pk))] * 3)
    assert not [d for d in deliveries if isinstance(d, BaseException)], deliveries
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    pages = server.stats.by_method.get("DocCheque/Get", 0)
    server.reset_stats()
    assert pages == one_listing_requests(world), "REGOS was read by more than one execution"
    assert_state(database_state(), world.oracle())
    assert run.documents_seen == len(world.oracle().facts)
    assert SyncRun.objects.count() == 1
    record.saw(f"results: {sorted(d.split()[-1] for d in deliveries)}; REGOS cheque pages read once ({pages}); "
               "= oracle")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_qcluster_workers_and_a_redelivered_task_run_it_once(
    regos_server, tmp_path, record: Record
) -> None:  # type: ignore[no-untyped-def]
    import os

    from django_q.models import OrmQ, Task
    from django_q.tasks import async_task

    record(
        "Concurrency", "2 `qcluster` workers on the ORM broker, the run's task enqueued twice; "
        "then a 3rd delivery after the end",
        "executed once (no double count); redelivery after the end writes nothing",
    )
    world = make_world(range_days=3, cheques_per_day=8)
    server = regos_server(world.ds, page_cap=PAGE)
    run, created = services.sync_run_request(date_from=world.first, date_to=world.last, trigger="user")
    assert created
    for _ in range(2):
        async_task("sync.tasks.sync_run_task", str(run.pk), task_name=f"sync-run-{run.pk}")
    assert OrmQ.objects.count() == 2

    env = child_env(
        DATABASE_URL=os.environ["DATABASE_URL"], REGOS_BASE_URL=server.base_url,
        REGOS_INTEGRATION_KEY=server.key, REGOS_RATE_PER_SEC="1000", REGOS_BURST="1000",
        DJANGO_Q_WORKERS="1", DJANGO_Q_SCHEDULER="false",
    )
    clusters = []
    for n in range(2):
        log = (tmp_path / f"qcluster-{n}.log").open("w")
        clusters.append((start_group([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, log=log), log))
    try:
        def both_done() -> bool:
            for proc, _ in clusters:
                assert proc.poll() is None, (tmp_path / "qcluster-0.log").read_text()
            return Task.objects.count() >= 2 and not SyncRun.objects.get(pk=run.pk).is_active

        wait_until(both_done, timeout=120, what="both deliveries to be processed", every=0.3)
    finally:
        for proc, _ in clusters:
            proc.send_signal(15)
        for proc, log in clusters:
            stop_group(proc)
            log.close()
    run.refresh_from_db()
    results = sorted(str(t.result).replace(str(run.pk), "<run>") for t in Task.objects.all())
    assert run.status == SyncRun.Status.SUCCEEDED, (run.error, results)
    assert SyncRun.objects.count() == 1
    assert all(t.success for t in Task.objects.all()), results
    pages = server.stats.by_method.get("DocCheque/Get", 0)
    server.reset_stats()
    assert pages == one_listing_requests(world), "REGOS was read by more than one execution"
    assert_state(database_state(), world.oracle())
    assert run.documents_seen == len(world.oracle().facts)
    record.saw(f"task results: {results}; REGOS cheque pages read once ({pages}); = oracle")

    facts, rows = dump_facts(), dump_history()
    late = sync_run_task(str(run.pk))
    assert late == f"run {run.pk} already succeeded"
    assert dump_facts() == facts and dump_history() == rows
    record.saw(f"3rd delivery after the end: “{late.replace(str(run.pk), '<run>')}”, nothing written")
