"""Is the REGOS sync healthy? Selectors for ``/health/`` and the admin index (banner, silent branches).

Definitions (chosen to be simple to explain and hard to fool):

- **Fresh run**: a *succeeded* SyncRun whose range reaches the business day before the one it
  started on (``date_to >= business_date(started_at) - 1``). The daily, webhook and "sync the last
  days" runs qualify; a successful re-sync of an old month does not, so it cannot hide a broken
  daily sync.
- **Last success** (global): ``finished_at`` of the latest fresh run. Per branch: the latest fresh
  run for all branches (``branch`` empty) or for that branch. Reported for every active branch that
  a REGOS stock is mapped to; ``last_sale_date`` (latest business day with a fact of its stocks)
  is shown next to it as a hint.
- **Stale**: no last success, or one older than ``REGOS_STALE_AFTER_HOURS``. ``/health/`` answers
  503 when the global last success or any branch's is stale, else 200 — so an external monitor can
  alert on the status code alone. ``oldest_stale_branch`` names the worst branch.
- **Worker alive**: the django-q2 worker writes KeyValue ``worker-heartbeat`` every minute (the
  ``regos-worker-heartbeat`` schedule, see ``sync.schedule``); alive = written in the last
  ``WORKER_ALIVE_WITHIN``. django-q2's own ``Stat`` is not used: with the ORM broker it lives in the
  Django cache, and the default LocMemCache is per process, so the web process never sees the
  cluster's stats. The heartbeat proves the whole path (scheduler → queue → worker → database).
  ``/health/`` answers 503 when no worker is alive: nothing would sync, even while the data is
  still fresh.
- **Scheduled run failed**: the latest attempt of the daily schedule (its latest finished run, or
  the job's own error in KeyValue ``schedule-last-error`` when newer) failed or partly failed, and
  no fresh run succeeded after it. ``/health/`` answers 503; ``reasons`` names every cause.
- **Failure banner**: the latest *finished* run (any trigger) failed or partly failed — and so no
  later run has succeeded — or the scheduled job itself failed before it could start a run (KeyValue
  ``schedule-last-error``, newer than the latest success). A run is retried by django-q2 up to
  ``max_attempts``; each attempt is a run of its own, so the banner shows the latest attempt and
  disappears with the first later success.
- **Silent branch**: over the lookback window's complete days (the window ending yesterday: today is
  not over, and a shop may simply not have opened yet), an active branch mapped to a REGOS stock
  with zero closed retail sale cheques on a day on which another mapped, active branch had at least
  one. A REGOS permission problem (the integration user lost access to a stock) looks exactly like
  this.

- **Days rebuilding**: business days a killed sync left half-written (``HistoryDay`` "rebuilding": on
  MongoDB, without transactions, such a day's history may be a mix of old and new rows until a sync of
  the day repairs it; the daily schedule reaches back to them). Listed in the JSON, no 503 by itself.

- **Incomplete days**: business days written without a document REGOS sent in a shape the figures
  cannot use (``QuarantinedDocument``; see ``sync.engine.quarantine``), with how many, plus
  ``quarantined_documents`` (all of them, including those whose date is unreadable and so have no day).
  Reported in the JSON and on the admin index, **no 503**: 503 means "the sync is not running" — the
  thing an external monitor pages someone for — while a quarantined document is a data problem in
  REGOS that the admin fixes there (the next sync clears it by itself), and every other figure is
  fresh. A monitor that must alert on it reads ``data_complete``.

- **Status at a glance** (``sync_status_get``): the ONE read of last success, next scheduled run,
  worker, failure and quarantine, used by ``/health/``, the admin index and the reports' "data as of".

The JSON never contains the integration key, URLs or error texts (the endpoint is public).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from payroll.dates import business_date, lookback_window
from payroll.dates import today as tashkent_today
from payroll.models import Branch
from regos_admin.env import mask_key
from sync.causes import cause_label
from sync.engine.quarantine import incomplete_days
from sync.inbox import kv_get, parse_stamp
from sync.models import DirtyDay, HistoryDay, QuarantinedDocument, SalesFact, StockMapping, SyncRun, WebhookEvent
from sync.schedule import HEARTBEAT_KEY, SCHEDULE_ERROR_KEY, NextRun, daily_next_run_get

WORKER_ALIVE_WITHIN = timedelta(minutes=5)


# --- freshness -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BranchHealth:
    id: str
    name: str
    last_success_at: datetime | None
    last_sale_date: date | None
    stale: bool


@dataclass
class Health:
    checked_at: datetime
    stale_after_hours: float
    last_success_at: datetime | None
    stale: bool
    branches: list[BranchHealth] = field(default_factory=list)
    oldest_stale_branch: BranchHealth | None = None
    worker_alive: bool = False
    worker_heartbeat_at: datetime | None = None
    last_event_at: datetime | None = None
    dirty_days: int = 0
    failing: bool = False
    scheduled_run_failed: bool = False
    # Days a killed sync left half-written ("rebuilding"); the next sync of those days repairs them.
    days_rebuilding: list[date] = field(default_factory=list)
    # Business day → documents quarantined on it; and all quarantined documents (dated or not).
    incomplete_days: dict[date, int] = field(default_factory=dict)
    quarantined_documents: int = 0

    @property
    def reasons(self) -> list[str]:
        """Why ``/health/`` answers 503, as stable codes (empty when healthy)."""
        found = []
        if self.stale:
            found.append("stale")
        if self.oldest_stale_branch is not None:
            found.append("branch_stale")
        if not self.worker_alive:
            found.append("worker_dead")
        if self.scheduled_run_failed:
            found.append("scheduled_run_failed")
        return found

    @property
    def ok(self) -> bool:
        return not self.reasons

    def as_json(self) -> dict[str, Any]:
        def iso(value: datetime | date | None) -> str | None:
            return value.isoformat() if value is not None else None

        def branch(b: BranchHealth) -> dict[str, Any]:
            return {"id": b.id, "name": b.name, "last_success_at": iso(b.last_success_at),
                    "last_sale_date": iso(b.last_sale_date), "stale": b.stale}

        return {
            "status": "ok" if self.ok else "stale" if self.stale or self.oldest_stale_branch else "failing",
            "reasons": self.reasons,
            "checked_at": iso(self.checked_at),
            "stale_after_hours": self.stale_after_hours,
            "last_success_at": iso(self.last_success_at),
            "last_run_failed": self.failing,
            "last_scheduled_run_failed": self.scheduled_run_failed,
            "branches": [branch(b) for b in self.branches],
            "oldest_stale_branch": branch(self.oldest_stale_branch) if self.oldest_stale_branch else None,
            "worker": {"alive": self.worker_alive, "last_heartbeat_at": iso(self.worker_heartbeat_at)},
            "webhook": {"last_event_at": iso(self.last_event_at), "dirty_days": self.dirty_days},
            "days_rebuilding": [iso(day) for day in self.days_rebuilding],
            "data_complete": self.quarantined_documents == 0,
            "quarantined_documents": self.quarantined_documents,
            "incomplete_days": [
                {"date": iso(day), "quarantined": count} for day, count in self.incomplete_days.items()
            ],
        }


def _is_fresh_run(date_to: date, started: datetime | None) -> bool:
    if started is None:
        return False
    return date_to >= business_date(started) - timedelta(days=1)


def last_successes() -> tuple[datetime | None, dict[str, datetime]]:
    """(global last success, {branch id: last branch-only success}) from fresh succeeded runs."""
    overall: datetime | None = None
    all_branches: datetime | None = None
    per_branch: dict[str, datetime] = {}
    rows = (
        SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("branch_id", "date_to", "started_at", "created_at", "finished_at")
    )
    for branch_id, date_to, started_at, created_at, finished_at in rows.iterator():
        if not _is_fresh_run(date_to, started_at or created_at):
            continue
        if overall is None:
            overall = finished_at
        if branch_id is None:
            all_branches = finished_at
            break  # rows are newest first: nothing older can beat an all-branch run
        per_branch.setdefault(str(branch_id), finished_at)
    if all_branches is not None:
        per_branch = {key: value for key, value in per_branch.items() if value > all_branches}
        per_branch["*"] = all_branches
    return overall, per_branch


def _mapped_active_branches() -> dict[str, tuple[str, set[int]]]:
    """{branch id: (name, {REGOS stock ids})} for active branches with at least one mapped stock."""
    stocks: dict[str, set[int]] = {}
    for branch_id, stock_id in StockMapping.objects.filter(branch__isnull=False).values_list(
        "branch_id", "regos_stock_id"
    ):
        stocks.setdefault(str(branch_id), set()).add(stock_id)
    branches: dict[str, tuple[str, set[int]]] = {}
    for branch_id, name in Branch.objects.filter(is_active=True).values_list("id", "name"):
        if str(branch_id) in stocks:
            branches[str(branch_id)] = (name, stocks[str(branch_id)])
    return branches


def worker_heartbeat_at() -> datetime | None:
    return parse_stamp(kv_get(HEARTBEAT_KEY) or "")


def worker_alive(*, now: datetime | None = None) -> bool:
    """A django-q2 worker wrote the heartbeat within ``WORKER_ALIVE_WITHIN`` (see the module doc)."""
    return _beat_alive(worker_heartbeat_at(), now or timezone.now())


def _beat_alive(beat: datetime | None, now: datetime) -> bool:
    return beat is not None and now - beat <= WORKER_ALIVE_WITHIN


RUN_PICKUP_WITHIN = timedelta(seconds=60)
HEARTBEAT_LATE_AFTER = timedelta(minutes=2)  # written every minute; the scheduler may be up to ~30 s late


def run_waiting_for_worker(run: SyncRun, *, now: datetime | None = None) -> bool:
    """A queued run that no worker has picked up for over ``RUN_PICKUP_WITHIN`` while no worker runs.

    "No worker runs" is the heartbeat rule above, tightened for a run that waits: a heartbeat that was
    not renewed since the run was queued and is over ``HEARTBEAT_LATE_AFTER`` old means the worker
    stopped, even before ``WORKER_ALIVE_WITHIN`` has passed — so Sync now with a dead worker is
    reported after about a minute, not five.
    """
    now = now or timezone.now()
    if run.status != SyncRun.Status.QUEUED or now - run.created_at <= RUN_PICKUP_WITHIN:
        return False
    beat = worker_heartbeat_at()
    if not _beat_alive(beat, now):
        return True
    return beat is not None and beat < run.created_at and now - beat > HEARTBEAT_LATE_AFTER


def _is_stale(moment: datetime | None, now: datetime, hours: float) -> bool:
    return moment is None or now - moment > timedelta(hours=hours)


def health_get(*, now: datetime | None = None) -> Health:
    now = now or timezone.now()
    hours = float(settings.REGOS_STALE_AFTER_HOURS)
    status = sync_status_get(now=now)
    overall, per_branch = status.last_success_at, status.branch_successes
    branches = _mapped_active_branches()

    last_sale: dict[int, date] = {
        row["stock_id"]: row["last"]
        for row in SalesFact.objects.values("stock_id").annotate(last=Max("business_date"))
    }
    report: list[BranchHealth] = []
    for branch_id, (name, stock_ids) in sorted(branches.items(), key=lambda item: item[1][0]):
        success = max(
            (moment for moment in (per_branch.get(branch_id), per_branch.get("*")) if moment is not None),
            default=None,
        )
        sales = [last_sale[s] for s in stock_ids if s in last_sale]
        report.append(BranchHealth(id=branch_id, name=name, last_success_at=success,
                                   last_sale_date=max(sales) if sales else None,
                                   stale=_is_stale(success, now, hours)))
    stale_branches = [b for b in report if b.stale]
    oldest = min(stale_branches, key=lambda b: (b.last_success_at is not None, b.last_success_at or now),
                 default=None)

    return Health(
        checked_at=now,
        stale_after_hours=hours,
        last_success_at=overall,
        stale=status.stale,
        branches=report,
        oldest_stale_branch=oldest,
        worker_alive=status.worker_alive,
        worker_heartbeat_at=status.worker_heartbeat_at,
        last_event_at=WebhookEvent.objects.aggregate(last=Max("received_at"))["last"],
        dirty_days=DirtyDay.objects.count(),
        failing=status.failure is not None,
        scheduled_run_failed=status.scheduled_run_failed,
        days_rebuilding=list(
            HistoryDay.objects.filter(state=HistoryDay.State.REBUILDING).order_by("date")
            .values_list("date", flat=True)[:31]
        ),
        incomplete_days=dict(list(status.incomplete_days.items())[:31]),
        quarantined_documents=status.quarantined,
    )


# --- the failure banner ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureBanner:
    at: datetime
    error: str
    hint: str
    trigger: str = ""
    date_from: date | None = None
    date_to: date | None = None
    partial: bool = False
    run_id: str = ""
    cause: str = ""  # a code of sync.causes

    @property
    def cause_label(self) -> str:
        return cause_label(self.cause, self.error)


def failure_banner_get() -> FailureBanner | None:
    """The failure to show on the admin index, or None once a later run has succeeded."""
    latest = (
        SyncRun.objects.filter(finished_at__isnull=False)
        .filter(status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED, SyncRun.Status.PARTIAL])
        .order_by("-finished_at")
        .values("id", "status", "finished_at", "error", "error_hint", "error_code", "trigger", "date_from",
                "date_to")
        .first()
    )
    banner: FailureBanner | None = None
    if latest is not None and latest["status"] != SyncRun.Status.SUCCEEDED:
        banner = FailureBanner(
            at=latest["finished_at"], error=latest["error"] or "", hint=latest["error_hint"] or "",
            trigger=latest["trigger"], date_from=latest["date_from"], date_to=latest["date_to"],
            partial=latest["status"] == SyncRun.Status.PARTIAL, run_id=str(latest["id"]),
            cause=latest["error_code"] or "",
        )
    # The scheduled job can also fail before it has a run (e.g. no key configured).
    raw = kv_get(SCHEDULE_ERROR_KEY)
    if raw:
        try:
            job = json.loads(raw)
            job_at = datetime.fromisoformat(job["at"])
        except (ValueError, KeyError, TypeError):
            job = None
        if job is not None and (latest is None or job_at > latest["finished_at"]):
            banner = FailureBanner(at=job_at, error=mask_key(str(job.get("error", "")))[:500],
                                   hint=str(job.get("hint", ""))[:500], trigger=SyncRun.Trigger.SCHEDULE,
                                   cause=str(job.get("cause", "")))
    return banner


# --- silent branches -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SilentBranch:
    branch_id: str
    name: str
    date: date


def silent_branches_get(*, end: date | None = None) -> list[SilentBranch]:
    """(branch, day) pairs where a mapped active branch sold nothing while another one sold (retail)."""
    last_day = end or tashkent_today() - timedelta(days=1)
    first_day, last_day = lookback_window(settings.REGOS_LOOKBACK_DAYS, end=last_day)
    branches = _mapped_active_branches()
    if len(branches) < 2:
        return []
    branch_of_stock = {stock: branch_id for branch_id, (_, stocks) in branches.items() for stock in stocks}
    sold: dict[date, set[str]] = {}
    for row in (
        SalesFact.objects.filter(
            source_kind=SalesFact.Kind.CHEQUE, is_return=False,
            business_date__gte=first_day, business_date__lte=last_day,
            stock_id__in=sorted(branch_of_stock),
        )
        .values("business_date", "stock_id")
        .annotate(n=Count("id"))
    ):
        if row["n"]:
            sold.setdefault(row["business_date"], set()).add(branch_of_stock[row["stock_id"]])
    silent = [
        SilentBranch(branch_id=branch_id, name=branches[branch_id][0], date=day)
        for day, sellers in sold.items()
        for branch_id in branches
        if branch_id not in sellers
    ]
    return sorted(silent, key=lambda s: (s.date, s.name))


# --- status at a glance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncStatus:
    """Everything "is the sync working?" shows, read once (see the module doc)."""

    checked_at: datetime
    last_success_at: datetime | None
    last_success_duration: timedelta | None
    stale: bool
    next_run: NextRun
    worker_alive: bool
    worker_heartbeat_at: datetime | None
    failure: FailureBanner | None
    scheduled_run_failed: bool
    quarantined: int
    incomplete_days: dict[date, int]
    branch_successes: dict[str, datetime] = field(default_factory=dict)


def _scheduled_run_failed(last_success: datetime | None) -> bool:
    latest = (
        SyncRun.objects.filter(trigger=SyncRun.Trigger.SCHEDULE, finished_at__isnull=False)
        .filter(status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED, SyncRun.Status.PARTIAL])
        .order_by("-finished_at").values("status", "finished_at").first()
    )
    failed_at = latest["finished_at"] if latest and latest["status"] != SyncRun.Status.SUCCEEDED else None
    raw = kv_get(SCHEDULE_ERROR_KEY)
    if raw:
        try:
            job_at = datetime.fromisoformat(json.loads(raw)["at"])
        except (ValueError, KeyError, TypeError):
            job_at = None
        if job_at is not None and (latest is None or job_at > latest["finished_at"]):
            failed_at = job_at
    return failed_at is not None and (last_success is None or failed_at > last_success)


def sync_status_get(*, now: datetime | None = None) -> SyncStatus:
    """The status of the sync at a glance: for ``/health/``, the admin index and the reports."""
    now = now or timezone.now()
    overall, per_branch = last_successes()
    duration = None
    if overall is not None:
        row = (SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED, finished_at=overall)
               .values("started_at", "finished_at").first())
        if row and row["started_at"]:
            duration = row["finished_at"] - row["started_at"]
    beat = worker_heartbeat_at()
    return SyncStatus(
        checked_at=now,
        last_success_at=overall,
        last_success_duration=duration,
        stale=_is_stale(overall, now, float(settings.REGOS_STALE_AFTER_HOURS)),
        next_run=daily_next_run_get(now=now),
        worker_alive=_beat_alive(beat, now),
        worker_heartbeat_at=beat,
        failure=failure_banner_get(),
        scheduled_run_failed=_scheduled_run_failed(overall),
        quarantined=QuarantinedDocument.objects.count(),
        incomplete_days=incomplete_days(),
        branch_successes=per_branch,
    )


@dataclass(frozen=True)
class IndexHealth:
    failure: FailureBanner | None
    silent: list[SilentBranch]
    worker_alive: bool
    quarantined: int = 0  # documents REGOS sent that the sync could not use (their days are incomplete)
    incomplete_days: int = 0
    status: SyncStatus | None = None


def index_health_get() -> IndexHealth:
    status = sync_status_get()
    return IndexHealth(failure=status.failure, silent=silent_branches_get(),
                       worker_alive=status.worker_alive, quarantined=status.quarantined,
                       incomplete_days=len(status.incomplete_days), status=status)


# --- the endpoint ----------------------------------------------------------------------------------


@never_cache
@require_safe
def health_view(request: HttpRequest) -> JsonResponse:
    """``GET``/``HEAD /health/`` — no login, no secrets; 200 when healthy, else 503 with ``reasons``."""
    health = health_get()
    return JsonResponse(health.as_json(), status=200 if health.ok else 503)
