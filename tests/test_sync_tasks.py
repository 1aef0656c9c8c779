"""The django-q2 wiring: enqueue after commit, the task runs the run, a failed run fails the task."""

from __future__ import annotations

import pytest
from django_q.conf import Conf
from django_q.models import Task

from sync import services
from sync.engine import history
from sync.models import SyncRun
from sync.tasks import SyncRunFailed
from tests.sync_data import D1, D3, RULES_HISTORY, TODAY, history_table, map_cast, rules_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sync_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    # Run tasks in-process (Conf is read at import: patch it, never settings.Q_CLUSTER).
    monkeypatch.setattr(Conf, "SYNC", True)
    monkeypatch.setattr(history, "today", lambda: TODAY)


def test_enqueued_run_is_executed_by_the_task(  # type: ignore[no-untyped-def]
    regos_server, django_capture_on_commit_callbacks, navoiy, gijduvon, aziz, dilnoza, bobur
) -> None:
    map_cast(navoiy=navoiy, gijduvon=gijduvon, aziz=aziz, dilnoza=dilnoza, bobur=bobur)
    regos_server(rules_dataset())
    run, created = services.sync_run_request(date_from=D1, date_to=D3, trigger=SyncRun.Trigger.USER)
    assert created

    with django_capture_on_commit_callbacks(execute=True):
        services.sync_run_enqueue(run=run)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.task_id
    assert history_table() == RULES_HISTORY
    task = Task.objects.get(id=run.task_id)
    assert task.success is True and task.func == "sync.tasks.sync_run_task"


def test_failed_run_fails_the_task(regos_server, django_capture_on_commit_callbacks, settings) -> None:  # type: ignore[no-untyped-def]
    regos_server(rules_dataset())
    settings.REGOS_INTEGRATION_KEY = "wrongkey7777wrongkey7777wrongkey"
    run, _ = services.sync_run_request(date_from=D1, date_to=D3, trigger=SyncRun.Trigger.USER)

    # In-process (sync) mode django-q2 re-raises the task's exception; a cluster records it as a failure.
    with pytest.raises(SyncRunFailed) as caught, django_capture_on_commit_callbacks(execute=True):
        services.sync_run_enqueue(run=run)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.error_hint.startswith("REGOS key rejected")
    assert "wrongkey7777" not in str(caught.value)
