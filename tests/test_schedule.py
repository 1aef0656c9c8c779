"""The django-q2 schedules: installed once, cron evaluated in Tashkent, admin edits kept, jobs' bodies."""

from __future__ import annotations

import ast
import io
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django_q.conf import Conf
from django_q.models import Schedule

from sync import schedule as schedule_module
from sync.health import failure_banner_get
from sync.models import KeyValue, SyncRun, WebhookEvent
from sync.regos.errors import RegosTransportError
from sync.schedule import (
    CRON_ENV_KEY,
    DAILY_FUNC,
    DAILY_NAME,
    HEARTBEAT_FUNC,
    HEARTBEAT_NAME,
    SCHEDULE_ERROR_KEY,
    schedule_install,
    scheduled_sync_execute,
)
from sync.tasks import SyncRunFailed

TZ = ZoneInfo("Asia/Tashkent")


@pytest.fixture
def fresh(db) -> None:  # noqa: ANN001
    """No schedules (migrate's post_migrate handler installed them in the test database)."""
    Schedule.objects.filter(name__in=[DAILY_NAME, HEARTBEAT_NAME]).delete()
    KeyValue.objects.filter(key=CRON_ENV_KEY).delete()


def daily() -> Schedule:
    return Schedule.objects.get(name=DAILY_NAME)


# --- installation ---------------------------------------------------------------------------------


def test_install_creates_both_schedules_once(fresh) -> None:
    first = schedule_install()
    assert first.created == [DAILY_NAME, HEARTBEAT_NAME]
    second = schedule_install()
    assert second.created == [] and second.updated == []
    assert sorted(second.unchanged) == sorted([DAILY_NAME, HEARTBEAT_NAME])
    assert Schedule.objects.filter(name=DAILY_NAME).count() == 1
    assert Schedule.objects.filter(name=HEARTBEAT_NAME).count() == 1
    job = daily()
    assert (job.func, job.schedule_type, job.cron) == (DAILY_FUNC, Schedule.CRON, "59 23 * * *")
    assert job.repeats == -1


def test_migrate_installs_the_schedules_idempotently(fresh) -> None:
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert Schedule.objects.filter(name=DAILY_NAME).count() == 1
    assert Schedule.objects.filter(name=HEARTBEAT_NAME).count() == 1


def test_duplicates_from_a_race_are_removed(fresh) -> None:
    schedule_install()
    Schedule.objects.create(name=DAILY_NAME, func=DAILY_FUNC, schedule_type=Schedule.CRON, cron="59 23 * * *")
    result = schedule_install()
    assert result.removed_duplicates == 1
    assert Schedule.objects.filter(name=DAILY_NAME).count() == 1


def test_next_run_is_2359_tashkent_which_is_1859_utc(fresh) -> None:
    with time_machine.travel(datetime(2026, 11, 26, 20, 0, tzinfo=TZ), tick=False):
        schedule_install()
    assert daily().next_run == datetime(2026, 11, 26, 18, 59, tzinfo=UTC)
    assert daily().next_run.astimezone(TZ) == datetime(2026, 11, 26, 23, 59, tzinfo=TZ)


def test_next_run_after_the_slot_is_the_next_day(fresh) -> None:
    # 23:59:30 in Tashkent is 18:59:30 UTC: "today" in UTC terms, yet the slot has passed.
    with time_machine.travel(datetime(2026, 11, 26, 23, 59, 30, tzinfo=TZ), tick=False):
        schedule_install()
    assert daily().next_run == datetime(2026, 11, 27, 18, 59, tzinfo=UTC)


def test_cron_is_evaluated_in_the_django_q_time_zone() -> None:
    assert Conf.TIME_ZONE == django_settings.TIME_ZONE == "Asia/Tashkent"


def test_queue_settings_bound_retries_and_skip_missed_slots() -> None:
    q = django_settings.Q_CLUSTER
    assert q["catch_up"] is False and Conf.CATCH_UP is False
    assert 0 < q["max_attempts"] <= 5
    assert q["retry"] > q["timeout"] >= 1800


def test_an_admins_edits_survive_later_installs(fresh) -> None:
    schedule_install()
    job = daily()
    job.cron, job.repeats, job.cluster = "0 22 * * *", 0, "other"
    job.save()
    assert schedule_install().unchanged[0] == DAILY_NAME
    job = daily()
    assert (job.cron, job.repeats, job.cluster) == ("0 22 * * *", 0, "other")


def test_a_changed_REGOS_SYNC_CRON_is_applied(fresh, settings) -> None:  # noqa: N802
    with time_machine.travel(datetime(2026, 11, 26, 20, 0, tzinfo=TZ), tick=False):
        schedule_install()
        settings.REGOS_SYNC_CRON = "30 21 * * *"
        result = schedule_install()
    assert result.updated == [DAILY_NAME]
    assert daily().cron == "30 21 * * *"
    assert daily().next_run == datetime(2026, 11, 26, 16, 30, tzinfo=UTC)  # 21:30 Tashkent
    assert KeyValue.objects.get(key=CRON_ENV_KEY).value == "30 21 * * *"
    assert schedule_install().updated == []


def test_heartbeat_schedule_runs_every_minute_without_saving_successes(fresh) -> None:
    schedule_install()
    job = Schedule.objects.get(name=HEARTBEAT_NAME)
    assert (job.func, job.schedule_type, job.minutes) == (HEARTBEAT_FUNC, Schedule.MINUTES, 1)
    assert ast.literal_eval(job.kwargs) == {"q_options": {"save": False}}


def test_command_installs_idempotently_and_shows(fresh) -> None:
    out = io.StringIO()
    with time_machine.travel(datetime(2026, 11, 26, 20, 0, tzinfo=TZ), tick=False):
        call_command("regos_schedule", "--install", stdout=out)
        call_command("regos_schedule", "--install", stdout=out)
        call_command("regos_schedule", "--show", stdout=out)
    text = out.getvalue()
    assert f"created: {DAILY_NAME}, {HEARTBEAT_NAME}" in text
    assert f"unchanged: {DAILY_NAME}, {HEARTBEAT_NAME}" in text
    assert "2026-11-26 23:59 Asia/Tashkent (18:59 UTC)" in text
    assert Schedule.objects.filter(name=DAILY_NAME).count() == 1


# --- the scheduler fires our job -------------------------------------------------------------------


def test_the_scheduler_fires_the_daily_job_once_and_skips_missed_slots(fresh, monkeypatch) -> None:
    from django_q.brokers import get_broker
    from django_q.scheduler import scheduler

    calls: list[str] = []
    monkeypatch.setattr(Conf, "SYNC", True)
    monkeypatch.setattr("sync.jobs.scheduled_sync_execute", lambda: calls.append("sync") or "ok")
    with time_machine.travel(datetime(2026, 11, 23, 20, 0, tzinfo=TZ), tick=False):
        schedule_install()
    Schedule.objects.filter(name=HEARTBEAT_NAME).update(repeats=0)
    # The worker was down for three days: one run, and the next slot is tonight, not a backlog.
    with time_machine.travel(datetime(2026, 11, 26, 20, 0, tzinfo=TZ), tick=False):
        scheduler(broker=get_broker())
    assert calls == ["sync"]
    assert daily().next_run == datetime(2026, 11, 26, 18, 59, tzinfo=UTC)


# --- the daily job's body ------------------------------------------------------------------------


class FakeServices:
    def __init__(self, status: str | None = SyncRun.Status.SUCCEEDED, error: Exception | None = None) -> None:
        self.status, self.error, self.calls = status, error, 0

    def sync_scheduled(self):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.error:
            raise self.error
        if self.status is None:
            return None
        return SimpleNamespace(pk="run-1", status=self.status, error="REGOS down", is_active=False,
                               date_from="2026-11-24", date_to="2026-11-26")


@pytest.fixture
def services(monkeypatch):  # noqa: ANN001
    def use(fake: FakeServices) -> FakeServices:
        monkeypatch.setattr("sync.services.sync_scheduled", fake.sync_scheduled)
        return fake

    return use


def test_daily_job_syncs_and_clears_an_old_job_error(db, services) -> None:
    KeyValue.objects.create(key=SCHEDULE_ERROR_KEY, value='{"at": "2026-11-25T00:00:00+00:00", "error": "x"}')
    fake = services(FakeServices())
    assert "run-1" in scheduled_sync_execute()
    assert fake.calls == 1
    assert not KeyValue.objects.filter(key=SCHEDULE_ERROR_KEY).exists()


def test_daily_job_raises_when_the_run_failed(db, services) -> None:
    services(FakeServices(status=SyncRun.Status.FAILED))
    with pytest.raises(SyncRunFailed, match="REGOS down"):
        scheduled_sync_execute()


def test_daily_job_that_joined_an_active_run_succeeds(db, services) -> None:
    services(FakeServices(status=None))
    assert "joined" in scheduled_sync_execute()


def test_daily_job_error_before_a_run_is_kept_for_the_banner(db, services) -> None:
    services(FakeServices(error=RegosTransportError("REGOS unreachable")))
    with pytest.raises(RegosTransportError):
        scheduled_sync_execute()
    banner = failure_banner_get()
    assert banner is not None and banner.error == "REGOS unreachable" and banner.trigger == "schedule"
    assert "REGOS_BASE_URL" in banner.hint  # the error's own hint (in the active language)


def test_daily_job_replays_events_first_when_webhooks_are_used(db, services, monkeypatch) -> None:
    order: list[str] = []
    fake = services(FakeServices())
    monkeypatch.setattr(fake, "sync_scheduled",
                        lambda: order.append("sync") or FakeServices().sync_scheduled())
    monkeypatch.setattr("sync.services.sync_scheduled", fake.sync_scheduled)
    monkeypatch.setattr(schedule_module, "inbox_replay",
                        lambda: order.append("replay") or SimpleNamespace(summary=lambda: "0 events"))
    scheduled_sync_execute()
    assert order == ["sync"]  # no webhook ever arrived: no replay
    WebhookEvent.objects.create(event_id="e-1", action="DocChequeClosed")
    order.clear()
    scheduled_sync_execute()
    assert order == ["replay", "sync"]


def test_a_failed_replay_does_not_stop_the_daily_sync(db, services, monkeypatch) -> None:
    fake = services(FakeServices())
    WebhookEvent.objects.create(event_id="e-1", action="DocChequeClosed")

    def broken_replay():  # type: ignore[no-untyped-def]
        raise RegosTransportError("Event/Get unreachable")

    monkeypatch.setattr(schedule_module, "inbox_replay", broken_replay)
    assert "replay failed" in scheduled_sync_execute()
    assert fake.calls == 1
