"""SyncRun lifecycle without locks: a gate taken by conditional update, claims by conditional update.

- ``run_request``: validate the range; under the "sync-trigger" gate, join an active overlapping run
  or create a queued one. Two triggers racing for the same days get the same run.
- ``run_claim``: queued → running (or re-claim a stale running run on its old heartbeat); whoever's
  conditional update matches owns the run, everybody else (a redelivered task, a second worker) backs off.
- Staleness: a running run whose heartbeat is older than REGOS_RUN_STALE_AFTER_S lost its worker, and so
  did one whose recorded process (``owner``: host, pid, start time) is known dead on this host; a
  queued run nobody picked up within the worker's task timeout means no worker is running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import time
import uuid
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from payroll.dates import days, today
from sync import causes
from sync.models import SyncGate, SyncRun

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

    from payroll.models import Branch

log = logging.getLogger(__name__)

TRIGGER_GATE = "sync-trigger"
# The deployments the README describes: the systemd worker unit, `make serve`, or `make run` / `make worker`.
WORKER_HINT = gettext_noop(
    "Start the worker: systemctl start regos-admin-worker (systemd), or make serve; in development make run "
    "or make worker. Then sync again."
)
# The hint runs stored before WORKER_HINT: still translated when such a run is shown.
LEGACY_WORKER_HINT = gettext_noop("Check that the worker (manage.py qcluster) is running, then sync again.")
GATE_HOLD = timedelta(seconds=30)  # a holder that died inside the gate is ignored after this
GATE_WAIT_S = 20.0


class SyncRangeError(ValueError):
    """The requested date range cannot be synced; the message says why, in one line."""


class SyncBusyError(RuntimeError):
    """The trigger gate stayed taken for too long (another process is stuck inside it)."""


def range_validate(*, date_from: date, date_to: date) -> None:
    if date_to < date_from:
        raise SyncRangeError(f"The end date {date_to} is before the start date {date_from}.")
    count = (date_to - date_from).days + 1
    limit = settings.REGOS_SYNC_MAX_DAYS
    if count > limit:
        raise SyncRangeError(
            f"The range {date_from}..{date_to} has {count} days; at most {limit} days can be synced at once "
            f"(REGOS_SYNC_MAX_DAYS)."
        )
    now = today()
    if date_to > now:
        raise SyncRangeError(f"The end date {date_to} is in the future (today in Tashkent is {now}).")


# --- the gate ------------------------------------------------------------------------------------


class _Gate:
    """Named mutex: SyncGate(key).holder '' → token by conditional update; expired holders are taken over."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.token = uuid.uuid4().hex

    def __enter__(self) -> _Gate:
        with contextlib.suppress(IntegrityError):  # created concurrently
            SyncGate.objects.get_or_create(key=self.key)
        deadline = time.monotonic() + GATE_WAIT_S
        while True:
            now = timezone.now()
            taken = SyncGate.objects.filter(Q(holder="") | Q(expires_at__lt=now), key=self.key).update(
                holder=self.token, expires_at=now + GATE_HOLD
            )
            if taken:
                return self
            if time.monotonic() > deadline:
                raise SyncBusyError("Another sync trigger is in progress; try again in a moment.")
            time.sleep(0.02 + random.random() * 0.05)

    def __exit__(self, *exc: object) -> None:
        SyncGate.objects.filter(key=self.key, holder=self.token).update(holder="", expires_at=None)


# --- staleness -----------------------------------------------------------------------------------


def _process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, Linux /proc), or "" where unknown.
    Together with the pid it names one process: a pid reused later has another start time."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()  # field 22 of stat(5); the first two fields precede ")"
    except (OSError, IndexError):
        return ""


def process_id() -> str:
    """This process, as recorded in ``SyncRun.owner``."""
    pid = os.getpid()
    return f"{socket.gethostname()} {pid} {_process_start(pid)}"


def owner_is_dead(owner: str) -> bool:
    """True only when ``owner`` is a process of this host that is known to be gone."""
    host, _, rest = owner.partition(" ")
    pid_text, _, started = rest.partition(" ")
    if not owner or host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's process, or nothing recorded: only the heartbeat can tell
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, another user's
    now_started = _process_start(pid)
    return bool(started and now_started and now_started != started)  # the pid was reused


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.REGOS_RUN_STALE_AFTER_S)


def _queued_stale_before(now: datetime) -> datetime:
    # A queued run may legitimately wait behind other tasks for up to one task timeout.
    wait = max(settings.REGOS_RUN_STALE_AFTER_S, int(settings.Q_CLUSTER.get("timeout", 3600)))
    return now - timedelta(seconds=wait)


def run_is_stale(run: SyncRun, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if run.status == SyncRun.Status.RUNNING:
        beat = run.heartbeat_at or run.started_at or run.created_at
        return beat < _stale_before(now) or owner_is_dead(run.owner)
    if run.status == SyncRun.Status.QUEUED:
        return run.created_at < _queued_stale_before(now)
    return False


def run_fail_if_stale(run: SyncRun) -> bool:
    """Mark a stale active run failed (conditional on the state we saw); True if it is no longer active."""
    if not run_is_stale(run):
        return False
    if run.status == SyncRun.Status.RUNNING and owner_is_dead(run.owner):
        host, pid = run.owner.split(" ")[:2]
        error = f"The process running it (pid {pid} on {host}) is gone: it was stopped or killed."
        hint = gettext_noop("Sync again; a killed regos_sync or worker leaves nothing half-written.")
        code = causes.PROCESS_GONE
    elif run.status == SyncRun.Status.RUNNING:
        error = "The worker stopped: no heartbeat for more than REGOS_RUN_STALE_AFTER_S seconds."
        code = causes.WORKER_STOPPED
        hint = WORKER_HINT
    else:
        error = "The run was never started by a worker."
        code = causes.NEVER_STARTED
        hint = WORKER_HINT
    done = SyncRun.objects.filter(id=run.id, status=run.status, heartbeat_at=run.heartbeat_at, owner=run.owner).update(
        status=SyncRun.Status.FAILED, finished_at=timezone.now(), error=error, error_hint=hint, error_code=code
    )
    if done:
        log.warning("sync run %s marked failed: %s", run.id, error)
    return True


# --- request / claim -----------------------------------------------------------------------------


def run_request(
    *, date_from: date, date_to: date, trigger: str, user: AbstractBaseUser | None = None,
    branch: Branch | None = None, retry_of: SyncRun | None = None,
) -> tuple[SyncRun, bool]:
    range_validate(date_from=date_from, date_to=date_to)
    with _Gate(TRIGGER_GATE):
        active = SyncRun.objects.filter(
            status__in=SyncRun.ACTIVE, date_from__lte=date_to, date_to__gte=date_from
        ).order_by("created_at")
        for run in active:
            if run_fail_if_stale(run):
                continue
            return run, False
        run = SyncRun.objects.create(
            trigger=trigger,
            triggered_by=user if user is not None and getattr(user, "pk", None) else None,
            date_from=date_from,
            date_to=date_to,
            branch=branch,
            retry_of=retry_of,
            status=SyncRun.Status.QUEUED,
            days_total=(date_to - date_from).days + 1,
            progress=progress_initial(date_from=date_from, date_to=date_to),
        )
        return run, True


def progress_initial(*, date_from: date, date_to: date) -> list[dict[str, object]]:
    return [{"date": d.isoformat(), "status": "pending", "documents": 0} for d in days(date_from, date_to)]


def run_claim(*, run_id: uuid.UUID | str) -> SyncRun | None:
    """Take the run for this process; None if it is not ours to run (finished, or alive elsewhere)."""
    now = timezone.now()
    claimed = SyncRun.objects.filter(id=run_id, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.RUNNING, started_at=now, heartbeat_at=now, owner=process_id()
    )
    if not claimed:
        run = SyncRun.objects.filter(id=run_id).first()
        if run is None or run.status != SyncRun.Status.RUNNING or not run_is_stale(run, now=now):
            return None
        # Its worker died without marking it (killed): take it over on the heartbeat we saw.
        claimed = SyncRun.objects.filter(
            id=run_id, status=SyncRun.Status.RUNNING, heartbeat_at=run.heartbeat_at
        ).update(heartbeat_at=now, owner=process_id())
        if not claimed:
            return None
        log.warning("sync run %s re-claimed from a stopped worker", run_id)
    return SyncRun.objects.get(id=run_id)


class RunAbandoned(RuntimeError):
    """Our run was marked failed (stale) by someone else while we worked: stop writing."""


def run_update(run: SyncRun, **changes: object) -> None:
    """Write progress of a running run; raises RunAbandoned if it is no longer ours."""
    changes.setdefault("heartbeat_at", timezone.now())
    if not SyncRun.objects.filter(id=run.id, status=SyncRun.Status.RUNNING).update(**changes):
        raise RunAbandoned(f"sync run {run.id} is no longer running")
    for name, value in changes.items():
        setattr(run, name, value)


def run_finish(run: SyncRun, *, status: str, **changes: object) -> None:
    now = timezone.now()
    changes.update(status=status, finished_at=now, heartbeat_at=now)
    SyncRun.objects.filter(id=run.id, status=SyncRun.Status.RUNNING).update(**changes)
    for name, value in changes.items():
        setattr(run, name, value)
