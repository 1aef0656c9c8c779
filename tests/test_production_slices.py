"""Day slices of a long sync (sync/slices.py): the split, the per-slice markers, one finalization.

The engine's two entry points (``services.sync_slice_execute`` / ``services.sync_run_finalize``) are
replaced by recorders here: these tests are about the fan-out and bookkeeping, not about syncing.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django_q.conf import Conf

from sync import services, slices
from sync.models import KeyValue, SyncRun
from sync.slices import range_slices, slices_progress, sync_slice_task

JAN = date(2026, 1, 1)


def test_range_slices_cover_the_range_exactly():
    parts = range_slices(JAN, date(2026, 1, 31), 7)

    assert parts[0] == (JAN, date(2026, 1, 7))
    assert parts[-1] == (date(2026, 1, 29), date(2026, 1, 31))
    assert len(parts) == 5
    days = [first + timedelta(n) for first, last in parts for n in range((last - first).days + 1)]
    assert days == [JAN + timedelta(n) for n in range(31)]
    assert range_slices(JAN, JAN, 7) == [(JAN, JAN)]
    assert len(range_slices(JAN, date(2026, 1, 3), 1)) == 3
    with pytest.raises(ValueError):
        range_slices(JAN, JAN - timedelta(1), 7)
    with pytest.raises(ValueError):
        range_slices(JAN, JAN, 0)


class FakeEngine:
    def __init__(self, fail: set[date] = frozenset()) -> None:
        self.executed: list[tuple[date, date]] = []
        self.finalized: list[tuple[str, list]] = []
        self.fail = fail

    def execute(self, *, run_id, date_from, date_to):
        self.executed.append((date_from, date_to))
        if date_from in self.fail:
            raise RuntimeError(f"REGOS broke on {date_from}")
        SyncRun.objects.filter(id=run_id).update(days_done=SyncRun.objects.get(id=run_id).days_done
                                                 + (date_to - date_from).days + 1)

    def finalize(self, *, run_id, failed):
        self.finalized.append((str(run_id), failed))
        status = SyncRun.Status.PARTIAL if failed else SyncRun.Status.SUCCEEDED
        SyncRun.objects.filter(id=run_id).update(status=status)
        return SyncRun.objects.get(id=run_id)


@pytest.fixture
def engine(monkeypatch):
    fake = FakeEngine()
    monkeypatch.setattr(services, "sync_slice_execute", fake.execute, raising=False)
    monkeypatch.setattr(services, "sync_run_finalize", fake.finalize, raising=False)
    return fake


def new_run(status=SyncRun.Status.QUEUED, days=17) -> SyncRun:
    return SyncRun.objects.create(trigger=SyncRun.Trigger.COMMAND, date_from=JAN,
                                  date_to=JAN + timedelta(days - 1), status=status, days_total=days)


@pytest.mark.django_db
def test_a_run_fans_out_into_slices_and_is_finalized_once(engine, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)  # django-q2 runs each queued task at once, in order
    run = new_run()

    message = slices.sync_run_sliced_task(str(run.id), 7)

    assert message.endswith("3 slice(s) of 7 day(s) queued")
    assert engine.executed == [(JAN, date(2026, 1, 7)), (date(2026, 1, 8), date(2026, 1, 14)),
                               (date(2026, 1, 15), date(2026, 1, 17))]
    assert engine.finalized == [(str(run.id), [])]
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.days_done == 17
    assert not KeyValue.objects.filter(key__startswith="slice").exists()  # bookkeeping cleaned up


@pytest.mark.django_db
def test_progress_redelivery_failure_and_a_single_finalizer(monkeypatch):
    engine = FakeEngine(fail={date(2026, 1, 8)})
    monkeypatch.setattr(services, "sync_slice_execute", engine.execute, raising=False)
    monkeypatch.setattr(services, "sync_run_finalize", engine.finalize, raising=False)
    run = new_run(status=SyncRun.Status.RUNNING)
    KeyValue.objects.create(key=f"slices:{run.id}", value="3,7")

    assert sync_slice_task(str(run.id), "2026-01-01", "2026-01-07") == "slice 2026-01-01..2026-01-07 done"
    # A redelivered task does not sync the slice again.
    assert sync_slice_task(str(run.id), "2026-01-01", "2026-01-07").endswith("already done")
    assert "failed: RuntimeError: REGOS broke on 2026-01-08" in sync_slice_task(
        str(run.id), "2026-01-08", "2026-01-14")
    progress = slices_progress(run.id)
    assert (progress.planned, progress.done, progress.finished, progress.complete) == (3, 1, 2, False)
    assert engine.finalized == []

    sync_slice_task(str(run.id), "2026-01-15", "2026-01-17")

    assert len(engine.executed) == 3
    assert engine.finalized == [(str(run.id), [(date(2026, 1, 8), date(2026, 1, 14),
                                                "RuntimeError: REGOS broke on 2026-01-08")])]
    # Whoever else sees every slice finished finds the run already finalized.
    assert slices.slices_finish_if_complete(run.id) is None
    assert len(engine.finalized) == 1


@pytest.mark.django_db
def test_slices_of_a_run_that_ended_are_skipped(engine):
    run = new_run(status=SyncRun.Status.FAILED)

    assert "skipped" in sync_slice_task(str(run.id), "2026-01-01", "2026-01-07")
    assert engine.executed == []


@pytest.mark.django_db
def test_without_the_engine_hook_a_slice_fails_with_a_clear_message(monkeypatch):
    monkeypatch.delattr(services, "sync_slice_execute", raising=False)
    monkeypatch.delattr(services, "sync_run_finalize", raising=False)
    run = new_run(status=SyncRun.Status.RUNNING, days=3)
    KeyValue.objects.create(key=f"slices:{run.id}", value="2,2")

    outcome = sync_slice_task(str(run.id), "2026-01-01", "2026-01-02")

    assert "sync.services.sync_slice_execute does not exist yet" in outcome
