"""The daily automatic sync and the worker heartbeat, as django-q2 schedules.

Two schedules are installed (``schedule_install``; run by ``manage.py regos_schedule --install`` and
automatically after every ``migrate`` through a post_migrate handler in ``sync.apps``):

- ``regos-daily-sync`` — CRON ``REGOS_SYNC_CRON`` (default ``59 23 * * *``), calling
  ``sync.jobs.scheduled_sync``: replay missed REGOS events first when webhooks are in use, then
  sync the lookback window (trigger "schedule"). django-q2 evaluates cron expressions in
  ``Q_CLUSTER["time_zone"]``, which defaults to ``settings.TIME_ZONE`` = Asia/Tashkent, so 23:59
  means 23:59 in Tashkent (18:59 UTC), whatever the server's clock zone.
- ``regos-worker-heartbeat`` — every minute, ``sync.jobs.worker_heartbeat``: writes KeyValue
  ``worker-heartbeat`` (read by ``/health/``) and runs the inbox sweep. Its successes are not saved
  (``q_options={'save': False}``), or 1,440 heartbeats a day would push the real task history out
  of django-q2's ``save_limit``.

Idempotency and admin edits: a schedule is created only when none with its name exists (extra
copies with the same name — two processes migrating at once — are deleted, the oldest is kept). An
existing schedule is left exactly as an admin left it in the django-q2 admin (cron, repeats, cluster,
next run...) — with one exception: when ``REGOS_SYNC_CRON`` itself has changed since the last
install (remembered in KeyValue ``schedule-cron-env``), the new value is applied to the daily
schedule's cron and its next run is recomputed, because changing the environment is a deliberate
operator action. To pause the daily sync, set its *repeats* to 0 in the admin; a deleted schedule
comes back on the next migrate.

Exactly ONE ``qcluster`` process may run the scheduler. django-q2 guards the schedule table with
``select_for_update`` inside ``transaction.atomic``; on MongoDB both are no-ops, so two clusters
with the scheduler on would both fire every schedule (the sync itself would survive — overlapping
runs are joined — but the work would be doubled). Run more workers with ``DJANGO_Q_WORKERS``, or
start any further cluster with ``DJANGO_Q_SCHEDULER=false`` (``Q_CLUSTER["scheduler"]``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone, translation

from sync.inbox import events_enabled, inbox_replay, inbox_sweep, kv_get, kv_set, stamp
from sync.models import KeyValue, SyncRun

logger = logging.getLogger(__name__)

DAILY_NAME = "regos-daily-sync"
DAILY_FUNC = "sync.jobs.scheduled_sync"
HEARTBEAT_NAME = "regos-worker-heartbeat"
HEARTBEAT_FUNC = "sync.jobs.worker_heartbeat"
CRON_ENV_KEY = "schedule-cron-env"
SCHEDULE_ERROR_KEY = "schedule-last-error"
HEARTBEAT_KEY = "worker-heartbeat"


@dataclass
class InstallResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed_duplicates: int = 0

    def summary(self) -> str:
        parts = []
        groups = (("created", self.created), ("updated", self.updated), ("unchanged", self.unchanged))
        for label, names in groups:
            if names:
                parts.append(f"{label}: {', '.join(names)}")
        if self.removed_duplicates:
            parts.append(f"removed {self.removed_duplicates} duplicate(s)")
        return "; ".join(parts) or "nothing to do"


def _single(name: str, result: InstallResult):  # type: ignore[no-untyped-def]
    """The schedule called ``name`` (oldest if several), deleting extra copies; None if absent."""
    from django_q.models import Schedule

    rows = list(Schedule.objects.filter(name=name).order_by("pk"))
    if not rows:
        return None
    for extra in rows[1:]:
        extra.delete()
        result.removed_duplicates += 1
    return rows[0]


def schedule_install(*, cron: str | None = None) -> InstallResult:
    """Create the daily-sync and heartbeat schedules if missing (see the module doc for edits)."""
    from django_q.models import Schedule

    cron = cron or settings.REGOS_SYNC_CRON
    result = InstallResult()

    daily = _single(DAILY_NAME, result)
    applied_cron = kv_get(CRON_ENV_KEY)
    if daily is None:
        # Schedule.save() computes next_run from the cron for a new CRON schedule.
        Schedule.objects.create(name=DAILY_NAME, func=DAILY_FUNC, schedule_type=Schedule.CRON, cron=cron,
                                repeats=-1)
        result.created.append(DAILY_NAME)
    elif applied_cron is not None and applied_cron != cron and daily.cron != cron:
        daily.cron = cron
        daily.next_run = daily.calculate_next_run()
        daily.save(update_fields=["cron", "next_run"])
        result.updated.append(DAILY_NAME)
    else:
        result.unchanged.append(DAILY_NAME)
    if applied_cron != cron:
        kv_set(CRON_ENV_KEY, cron)

    heartbeat = _single(HEARTBEAT_NAME, result)
    if heartbeat is None:
        Schedule.objects.create(name=HEARTBEAT_NAME, func=HEARTBEAT_FUNC, schedule_type=Schedule.MINUTES,
                                minutes=1, repeats=-1, kwargs="{'q_options': {'save': False}}")
        result.created.append(HEARTBEAT_NAME)
    else:
        result.unchanged.append(HEARTBEAT_NAME)
    return result


class ScheduleRow(TypedDict):
    """One installed schedule as ``schedules_get`` returns it: columns of django-q2's Schedule."""

    name: str | None
    func: str
    schedule_type: str
    cron: str | None
    minutes: int | None
    repeats: int
    next_run: datetime | None
    cluster: str | None
    task: str | None


def schedules_get() -> list[ScheduleRow]:
    """The installed schedules, for ``regos_schedule --show``."""
    from django_q.models import Schedule

    return list(
        Schedule.objects.filter(name__in=[DAILY_NAME, HEARTBEAT_NAME]).order_by("name").values(
            "name", "func", "schedule_type", "cron", "minutes", "repeats", "next_run", "cluster", "task"
        )
    )


@dataclass(frozen=True)
class NextRun:
    """When ``regos-daily-sync`` runs next: ``at`` (aware), or why it will not (not installed / paused)."""

    at: datetime | None
    installed: bool = True
    paused: bool = False


def daily_next_run_get(*, now: datetime | None = None) -> NextRun:
    """The daily schedule's next run. django-q2 keeps ``next_run``; while no scheduler runs it stays in
    the past, so then the next slot is computed from the schedule's cron (Asia/Tashkent, like django-q2)."""
    from croniter import croniter
    from django_q.models import Schedule

    now = now or timezone.now()
    row = (Schedule.objects.filter(name=DAILY_NAME).order_by("pk")
           .values("cron", "next_run", "repeats").first())
    if row is None:
        return NextRun(at=None, installed=False)
    if row["repeats"] == 0:
        return NextRun(at=None, paused=True)
    if row["next_run"] is not None and row["next_run"] > now:
        return NextRun(at=row["next_run"])
    try:
        zone = ZoneInfo(str(settings.Q_CLUSTER.get("time_zone") or settings.TIME_ZONE))
        return NextRun(at=croniter(row["cron"] or settings.REGOS_SYNC_CRON, now.astimezone(zone)).get_next(datetime))
    except (ValueError, KeyError):  # an admin typed a cron croniter cannot read: show none rather than fail
        return NextRun(at=None)


# --- the jobs' bodies ------------------------------------------------------------------------------


def _record_job_error(exc: BaseException) -> None:
    # Stored as the English msgid, like a run's hint; pages translate it for their reader.
    with translation.override(None):
        hint = str(getattr(exc, "hint", "") or "")
    from regos_admin.env import mask_key
    from sync.causes import cause_of

    kv_set(SCHEDULE_ERROR_KEY, json.dumps(
        {"at": timezone.now().isoformat(), "error": mask_key(str(exc))[:500], "hint": hint[:500],
         "cause": cause_of(exc)}
    ))


def scheduled_sync_execute() -> str:
    """Body of the daily job: replay missed events (if webhooks are in use), then sync the lookback.

    A failing run raises, so django-q2 records the failure and retries within ``max_attempts``; the
    admin banner (``sync.health.failure_banner_get``) shows it until a later run succeeds.
    """
    from sync import services
    from sync.regos.errors import RegosError
    from sync.tasks import SyncRunFailed

    notes: list[str] = []
    if events_enabled():
        try:
            notes.append("replay: " + inbox_replay().summary())
        except RegosError as exc:
            # Missed events only speed things up: the window sync below reads everything anyway.
            logger.warning("event replay before the scheduled sync failed: %s", exc)
            notes.append("replay failed")

    try:
        # The lookback window, extended back to any day a crash left half-written (the engine's rule).
        run = services.sync_scheduled()
    except Exception as exc:
        _record_job_error(exc)  # no run row shows this failure: keep it for the admin banner
        raise
    if run is None or run.is_active:
        notes.append("joined an active run")
        return "; ".join(notes)
    if run.status != SyncRun.Status.SUCCEEDED:
        raise SyncRunFailed(f"scheduled sync run {run.pk} {run.status}: {run.error}")
    # The run row now carries the success; an older job-level error no longer applies.
    KeyValue.objects.filter(key=SCHEDULE_ERROR_KEY).delete()
    notes.append(f"run {run.pk} {run.date_from}…{run.date_to}: {run.status}")
    return "; ".join(notes)


def worker_heartbeat_execute(*, now: datetime | None = None) -> None:
    kv_set(HEARTBEAT_KEY, stamp(now or timezone.now()))
    inbox_sweep(now=now)
