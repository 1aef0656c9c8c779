"""The REGOS sync's public services (HackSoftware style: ``<entity>_<verb>(*, ...)``).

Views, tasks, commands and the admin call only these; the machinery lives in ``sync.engine``.

Decisions worth knowing:
- A run's ``branch`` is only kept for older runs: Sync now no longer offers it. REGOS cannot filter
  cheques by stock (DocCheque/Get has no stock filter), so a "branch" run read and reported every
  store's documents; limiting it would need a per-register session pull, not worth a second path.
- Branch month-to-date totals are always for the month of today in Tashkent (``totals_month``); a
  backfill of an older month updates history but leaves "month to date" meaning the current month.
- Foreign-currency wholesale: base amount = amount × the document's exchange_rate, rounded once to
  2 places ROUND_HALF_UP.
- ``SalesFact.sync_run`` is the run that last *changed* a fact: touching unchanged facts on every
  run would break "a re-run writes nothing".
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from payroll.dates import days as days_between
from payroll.dates import lookback_window
from payroll.models import Branch, Employee
from regos_admin.env import mask_key
from sync.causes import DAYS_FAILED, UNEXPECTED, cause_from_text, cause_of
from sync.engine import history, runs
from sync.engine.discover import DiscoveredStock, DiscoveredUser, DiscoverResult
from sync.engine.discover import regos_discover as _regos_discover
from sync.engine.mappings import mappings_set_many
from sync.engine.mappings import seller_mapping_set as _seller_mapping_set
from sync.engine.mappings import stock_mapping_set as _stock_mapping_set
from sync.engine.reconcile import Reconciliation, stock_branches
from sync.engine.runner import DayReport, RangeSync
from sync.engine.runs import RunAbandoned, SyncBusyError, SyncRangeError
from sync.models import (
    HistoryDay,
    KeyValue,
    ReconciliationRow,
    ReconciliationRun,
    SalesFact,
    SellerMapping,
    StockMapping,
    SyncRun,
)
from sync.regos.client import RegosClient, month_windows
from sync.regos.errors import RegosError, RegosRateLimitError

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

log = logging.getLogger(__name__)

__all__ = [
    "DayReport",
    "DiscoverResult",
    "DiscoveredStock",
    "DiscoveredUser",
    "SyncBusyError",
    "SyncRangeError",
    "MappingPlanError",
    "history_reaggregate",
    "mapping_plan_apply",
    "regos_discover",
    "regos_refresh_execute",
    "regos_refresh_request",
    "regos_refresh_state",
    "seller_mapping_set",
    "stock_mapping_set",
    "sync_range",
    "sync_run_enqueue",
    "sync_run_execute",
    "sync_run_finalize",
    "sync_run_request",
    "sync_scheduled",
    "sync_slice_execute",
    "sync_window_default",
]

JOIN_POLL_S = 1.0


# --- runs ----------------------------------------------------------------------------------------


def sync_run_request(
    *, date_from: date, date_to: date, trigger: str, user: AbstractBaseUser | None = None,
    branch: Branch | None = None,
) -> tuple[SyncRun, bool]:
    """(run, created): join an active run overlapping the range, or create a queued one.

    Raises SyncRangeError (a ValueError with a one-line message) for a bad range; nothing is written then.
    """
    return runs.run_request(date_from=date_from, date_to=date_to, trigger=trigger, user=user, branch=branch)


def sync_run_enqueue(*, run: SyncRun) -> None:
    """Hand the run to the django-q2 worker once the current transaction (if any) has committed."""

    def push() -> None:
        from django_q.tasks import async_task

        task_id = async_task("sync.tasks.sync_run_task", str(run.id), task_name=f"sync-run-{run.id}")
        if task_id:
            SyncRun.objects.filter(id=run.id).update(task_id=str(task_id)[:64])
            run.task_id = str(task_id)[:64]

    transaction.on_commit(push)


def _error_texts(exc: BaseException) -> tuple[str, str, str]:
    """(error, hint, cause code) for the run; never the integration key, never a traceback.

    The hint is stored as its English source text (the gettext msgid), whatever language the worker
    runs in, so stored runs do not depend on the worker's locale and a page can translate it with
    ``gettext(run.error_hint)`` at display time.
    """
    if isinstance(exc, RegosError):
        message = str(exc) or exc.__class__.__name__
        with translation.override(None):
            hint = str(exc.hint)
        if isinstance(exc, RegosRateLimitError):
            rest = hint.removeprefix("REGOS rate limit: ")
            hint = f"REGOS rate limit: retried {exc.attempts} times. {rest}"
    elif isinstance(exc, RunAbandoned):
        message, hint = str(exc), gettext_noop("Another process marked this run as stopped; start a new sync.")
    else:
        message = f"{exc.__class__.__name__}: {exc}"
        hint = gettext_noop(
            "An unexpected error stopped the sync; the completed days are kept. See the server log."
        )
    one_line = " ".join(mask_key(message).split())
    return one_line[:2000], " ".join(mask_key(hint).split()), cause_of(exc)


def sync_run_execute(
    *,
    run_id: uuid.UUID | str,
    client: RegosClient | None = None,
    on_day: Callable[[DayReport], None] | None = None,
) -> SyncRun:
    """Claim the run (queued → running) and sync its days; a run that is not ours is returned untouched."""
    run = runs.run_claim(run_id=run_id)
    if run is None:
        # Finished, or alive in another worker (broker redelivery): nothing visible happens.
        return SyncRun.objects.get(id=run_id)
    own_client = client is None
    engine: RangeSync | None = None
    try:
        if client is None:
            client = RegosClient.from_settings()
        engine = RangeSync(run=run, client=client, on_day=on_day)
        engine.execute()
    except Exception as exc:  # every failure is recorded on the run; the task layer re-raises
        if isinstance(exc, RegosError | RunAbandoned):
            log.warning("sync run %s failed: %s", run.id, mask_key(str(exc)))  # expected: no traceback
        else:
            log.exception("sync run %s failed", run.id)
        error, hint, code = _error_texts(exc)
        counts = engine.counts_for_run() if engine is not None else {}
        done = counts.get("days_done", 0)
        runs.run_finish(
            run,
            status=SyncRun.Status.PARTIAL if done else SyncRun.Status.FAILED,
            error=error,
            error_hint=hint,
            error_code=code,
            **counts,
        )
    else:
        runs.run_finish(
            run, status=SyncRun.Status.SUCCEEDED, error="", error_hint="", error_code="", **engine.counts_for_run()
        )
    finally:
        if own_client and client is not None:
            client.close()
    run.refresh_from_db()
    return run


# --- sliced runs (sync.slices fans one run out over several workers) ------------------------------

MOVED_PREFIX = "moved:"  # KeyValue "moved:<run id>:<slice first day>" = days a slice took documents from
NOT_COUNTED_PREFIX = "notcounted:"  # KeyValue "notcounted:<run id>:<slice first day>" = {status: cheques}
LOSING_SUFFIX = ":flagged"  # ...and of those, the days the slice flagged "rebuilding" until the finalizer rebuilds them


def sync_slice_execute(
    *, run_id: uuid.UUID | str, date_from: date, date_to: date, client: RegosClient | None = None
) -> None:
    """Sync only ``date_from..date_to`` for a parent run that is already running (one slice).

    No claim, no final status, no totals: counters are added to the parent with ``F()`` increments
    after each day (and the heartbeat bumped); days other slices' documents moved away from are stored
    for ``sync_run_finalize``. Raises on failure, after adding what it did.
    """
    run = SyncRun.objects.get(id=run_id)
    if not (run.date_from <= date_from <= date_to <= run.date_to):
        raise SyncRangeError(
            f"slice {date_from}..{date_to} is outside run {run.id} ({run.date_from}..{run.date_to})"
        )
    own_client = client is None
    client = client or RegosClient.from_settings()
    engine = RangeSync(run=run, client=client, first=date_from, last=date_to, slice_mode=True)
    try:
        engine.execute()
    finally:
        with contextlib.suppress(RunAbandoned):
            engine.slice_add()  # requests made after the last finished day
        if engine.not_counted:
            # Slices run in parallel: each leaves its own counts for the finalizer to add up.
            key = f"{NOT_COUNTED_PREFIX}{run.id}:{date_from.isoformat()}"
            value = json.dumps(engine.not_counted)
            if not KeyValue.objects.filter(key=key).update(value=value):
                KeyValue.objects.get_or_create(key=key, defaults={"value": value})
        for suffix, days in (("", engine.moved_days), (LOSING_SUFFIX, engine.losing_flagged)):
            if days:
                key = f"{MOVED_PREFIX}{run.id}:{date_from.isoformat()}{suffix}"
                value = ",".join(sorted(d.isoformat() for d in days))
                if not KeyValue.objects.filter(key=key).update(value=value):
                    KeyValue.objects.get_or_create(key=key, defaults={"value": value})
        if own_client:
            client.close()


def sync_run_finalize(*, run_id: uuid.UUID | str, failed: list[tuple[date, date, str]]) -> SyncRun:
    """End a sliced run once every slice finished: re-aggregate days slices took documents from (and the
    whole range if a mapping changed meanwhile), recompute totals once, rebuild ``progress`` from
    HistoryDay.synced_at, and set succeeded / partial / failed."""
    run = SyncRun.objects.get(id=run_id)
    moved_rows = KeyValue.objects.filter(key__startswith=f"{MOVED_PREFIX}{run.id}:")
    moved: set[date] = set()
    losing: set[date] = set()
    for key, value in moved_rows.values_list("key", "value"):
        (losing if key.endswith(LOSING_SUFFIX) else moved).update(date.fromisoformat(v) for v in value.split(",") if v)
    moved_rows.delete()
    not_counted: dict[str, int] = {}
    counted_rows = KeyValue.objects.filter(key__startswith=f"{NOT_COUNTED_PREFIX}{run.id}:")
    for value in counted_rows.values_list("value", flat=True):
        for status, count in json.loads(value).items():
            not_counted[status] = not_counted.get(status, 0) + int(count)
    counted_rows.delete()
    started = run.started_at or run.created_at
    mappings_changed = any(
        model.objects.filter(updated_at__gt=started).exists() for model in (StockMapping, SellerMapping)
    )
    days = list(days_between(run.date_from, run.date_to))
    history.history_reaggregate_days(dates=days if mappings_changed else moved, losing=losing)
    history.totals_recompute()

    synced = dict(
        HistoryDay.objects.filter(
            date__gte=run.date_from,
            date__lte=run.date_to,
            state=HistoryDay.State.CLEAN,
            synced_at__gte=started,
        ).values_list("date", "synced_at")
    )
    documents = {
        row["business_date"]: row["n"]
        for row in SalesFact.objects.filter(business_date__gte=run.date_from, business_date__lte=run.date_to)
        .values("business_date")
        .annotate(n=Count("id"))
    }
    failed_days = {d for first, last, _ in failed for d in days_between(first, last)}
    progress = []
    for day in days:
        status = "done" if day in synced else "failed" if day in failed_days else "pending"
        progress.append({"date": day.isoformat(), "status": status, "documents": documents.get(day, 0)})
    done = sum(item["status"] == "done" for item in progress)
    code = ""
    if not failed:
        status, error, hint = SyncRun.Status.SUCCEEDED, "", ""
    else:
        status = SyncRun.Status.PARTIAL if done else SyncRun.Status.FAILED
        error = " ".join("; ".join(f"{first}..{last}: {message}" for first, last, message in failed).split())
        error, hint = (
            mask_key(error)[:2000],
            gettext_noop("Some days were not synced; the finished days are kept. Sync again."),
        )
        # The slices' own causes, when they all agree; else "some days could not be synced".
        codes = {cause_from_text(message) for _, _, message in failed}
        code = codes.pop() if len(codes) == 1 else DAYS_FAILED
        code = DAYS_FAILED if code == UNEXPECTED else code
    runs.run_finish(run, status=status, error=error, error_hint=hint, error_code=code, progress=progress,
                    days_done=done, not_counted=dict(sorted(not_counted.items())))
    run.refresh_from_db()
    return run


def _wait_for(run: SyncRun, on_day: Callable[[DayReport], None] | None) -> SyncRun:
    """Follow a run executed elsewhere until it ends, reporting its finished days."""
    reported: set[str] = set()
    while True:
        run.refresh_from_db()
        if on_day is not None:
            for item in run.progress or []:
                if item.get("status") == "done" and item["date"] not in reported:
                    reported.add(item["date"])
                    on_day(
                        DayReport(
                            date=date.fromisoformat(item["date"]),
                            status="followed",
                            cheques=int(item.get("documents", 0)),
                        )
                    )
        if not run.is_active or runs.run_fail_if_stale(run):
            run.refresh_from_db()
            return run
        time.sleep(JOIN_POLL_S)


def sync_range(
    *,
    date_from: date,
    date_to: date,
    trigger: str = SyncRun.Trigger.COMMAND,
    user: AbstractBaseUser | None = None,
    client: RegosClient | None = None,
    on_day: Callable[[DayReport], None] | None = None,
    on_join: Callable[[SyncRun], None] | None = None,
) -> SyncRun:
    """Request and execute a run synchronously (the command). Never runs the same days twice at once:
    if an overlapping run is active it is joined — executed here if still queued, followed if running."""
    run, created = sync_run_request(date_from=date_from, date_to=date_to, trigger=trigger, user=user)
    if not created and on_join is not None:
        on_join(run)
    if created or run.status == SyncRun.Status.QUEUED:
        executed = sync_run_execute(run_id=run.id, client=client, on_day=on_day)
        if executed.is_active:  # a worker claimed it first
            return _wait_for(executed, on_day)
        return executed
    return _wait_for(run, on_day)


def sync_window_default() -> tuple[date, date]:
    """The lookback window ending today (Tashkent): what scheduled and default runs re-pull."""
    return lookback_window(settings.REGOS_LOOKBACK_DAYS)


def sync_scheduled() -> SyncRun | None:
    """The scheduled pull (called inside the worker): the lookback window, extended back to any day a
    crash left half-written (within REGOS_SYNC_MAX_DAYS). Joins instead if a run already covers it."""
    first, last = sync_window_default()
    repair = HistoryDay.objects.filter(state=HistoryDay.State.REBUILDING, date__lt=first).order_by("date")
    oldest = repair.values_list("date", flat=True).first()
    if oldest is not None:
        first = max(oldest, last - timedelta(days=settings.REGOS_SYNC_MAX_DAYS - 1))
    run, created = sync_run_request(date_from=first, date_to=last, trigger=SyncRun.Trigger.SCHEDULE)
    if not created:
        return None
    return sync_run_execute(run_id=run.id)


# --- history & mappings --------------------------------------------------------------------------


def history_reaggregate(*, dates: Iterable[date]) -> int:
    """Rebuild these days' history from facts + current mappings (no REGOS calls), recompute totals;
    returns the number of days whose history changed."""
    changed = history.history_reaggregate_days(dates=list(dates))
    history.totals_recompute()
    return changed


def stock_mapping_set(*, regos_stock_id: int, branch: Branch | None, user: AbstractBaseUser | None = None) -> int:
    """Map a REGOS stock to a branch (None = unmap), audit it, re-aggregate its days; days changed."""
    return _stock_mapping_set(regos_stock_id=regos_stock_id, branch=branch, user=user)


def seller_mapping_set(
    *, regos_user_id: int, employee: Employee | None, user: AbstractBaseUser | None = None
) -> int:
    """Map a REGOS user to an employee (None = unassigned), audit it, re-aggregate its days."""
    return _seller_mapping_set(regos_user_id=regos_user_id, employee=employee, user=user)


class MappingPlanError(ValueError):
    """A bulk mapping that cannot be applied as posted (one-line message); nothing was written."""


def mapping_plan_apply(
    *, mode: str, token: str, stock_ids: Iterable[int], user_ids: Iterable[int],
    user: AbstractBaseUser | None = None,
) -> tuple[int, int, int]:
    """Apply the chosen rows of the bulk-mapping preview: (stocks mapped, users mapped, days changed).

    The plan is computed afresh and must still be the one previewed (``token``), and every chosen id
    must be a row of it; otherwise MappingPlanError and nothing is written. Branches/employees to
    create are created first (a branch by its name, reused if it exists), then every mapping goes
    through the audited mapping path with one re-aggregation of all their days.
    """
    from sync.selectors import PLAN_MODES, mapping_plan

    if mode not in PLAN_MODES:
        raise MappingPlanError(gettext_noop("Unknown bulk action."))
    plan = mapping_plan(mode=mode)
    if token != plan.token:
        raise MappingPlanError(gettext_noop(
            "The mappings changed since this preview was shown: review the new preview and apply again."
        ))
    chosen_stocks, chosen_users = set(stock_ids), set(user_ids)
    stocks = [p for p in plan.stocks if p.regos_id in chosen_stocks]
    users = [p for p in plan.users if p.regos_id in chosen_users]
    if len(stocks) != len(chosen_stocks) or len(users) != len(chosen_users):
        raise MappingPlanError(gettext_noop("Some of the chosen rows are not in the preview: nothing was changed."))
    if not stocks and not users:
        raise MappingPlanError(gettext_noop("Nothing was chosen: tick at least one row."))

    branches: dict[int, Branch] = {}
    for row in stocks:
        if row.target_id is not None:
            branches[row.regos_id] = Branch.objects.get(pk=row.target_id)
        else:
            branches[row.regos_id] = Branch.objects.get_or_create(name=row.target_name)[0]
    home_by_stock: dict[int, Branch | None] = dict(branches)
    for sid, branch_id in StockMapping.objects.filter(branch__isnull=False).values_list(
        "regos_stock_id", "branch_id"
    ):
        home_by_stock.setdefault(sid, Branch.objects.filter(pk=branch_id).first())
    active = dict(SellerMapping.objects.values_list("regos_user_id", "active_in_regos"))
    employees: dict[int, Employee] = {}
    for row in users:
        if row.target_id is not None:
            employees[row.regos_id] = Employee.objects.get(pk=row.target_id)
        else:
            home = home_by_stock.get(row.home_stock) if row.home_stock is not None else None
            employees[row.regos_id] = Employee.objects.create(
                full_name=row.target_name, branch=home, is_active=active.get(row.regos_id, True)
            )
    changed = mappings_set_many(stocks=dict(branches), users=dict(employees), user=user)
    return len(branches), len(employees), changed


# --- "Refresh from REGOS" in the worker ------------------------------------------------------------
# A discovery is two REGOS listings and can hang as long as REGOS does (161 s held a web thread in an
# attack on a hanging REGOS), so the panel queues it as a django-q2 task. The KeyValue flag
# REFRESH_PENDING_KEY holds the claim ("" free, else the stamp of the claim): one conditional update
# claims it, so any number of presses queue one task and the others join it; a claim older than
# REFRESH_STALE (no worker took it) may be taken again. REFRESH_STATE_KEY holds what the pages show.
REFRESH_PENDING_KEY = "regos-refresh-pending"
REFRESH_STATE_KEY = "regos-refresh-state"
REFRESH_STALE = timedelta(minutes=15)
REFRESH_TASK = "sync.jobs.regos_refresh"


def _refresh_state_set(**state: object) -> None:
    from sync.inbox import kv_set

    kv_set(REFRESH_STATE_KEY, json.dumps(state, default=str))


def regos_refresh_request(*, user: AbstractBaseUser | None = None) -> bool:
    """Queue "Refresh from REGOS" unless one is queued or running; True if this call queued it."""
    from sync.inbox import _ensure_key, stamp

    _ensure_key(REFRESH_PENDING_KEY)
    now = timezone.now()
    claimed = KeyValue.objects.filter(
        key=REFRESH_PENDING_KEY, value__lt=stamp(now - REFRESH_STALE)
    ).update(value=stamp(now), updated_at=now)
    if not claimed:
        return False
    _refresh_state_set(status="queued", requested_at=stamp(now), by=getattr(user, "username", "") or "")

    def push() -> None:
        from django_q.tasks import async_task

        try:
            async_task(REFRESH_TASK, task_name=f"regos-refresh-{stamp(now)}", group="regos-refresh")
        except Exception as exc:  # the broker is down: say so on the page, free the claim
            log.exception("could not queue the refresh from REGOS")
            _refresh_finish(status="failed", error=f"could not queue the task ({type(exc).__name__})")

    transaction.on_commit(push)
    return True


def _refresh_finish(**state: object) -> None:
    from sync.inbox import stamp

    current = regos_refresh_state()
    _refresh_state_set(**{**current, **state, "finished_at": stamp(timezone.now())})
    KeyValue.objects.filter(key=REFRESH_PENDING_KEY).update(value="", updated_at=timezone.now())


def regos_refresh_state() -> dict[str, object]:
    """What the last "Refresh from REGOS" did: status queued / running / done / failed, and its figures."""
    raw = KeyValue.objects.filter(key=REFRESH_STATE_KEY).values_list("value", flat=True).first()
    try:
        state = json.loads(raw or "{}")
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def regos_refresh_execute() -> str:
    """The task body: Stock/Get + User/Get into the mapping rows, its outcome in the refresh state.

    A failure is recorded for the page (key masked) and not raised: django-q2 would retry it against a
    REGOS that is down; the next press queues a fresh one.
    """
    from sync.inbox import stamp

    now = timezone.now()
    # Keep the claim fresh while it runs (a long queue wait must not make it look stale).
    KeyValue.objects.filter(key=REFRESH_PENDING_KEY).update(value=stamp(now), updated_at=now)
    _refresh_state_set(**{**regos_refresh_state(), "status": "running", "started_at": stamp(now)})
    try:
        result = regos_discover()
    except Exception as exc:  # noqa: BLE001 — any REGOS failure is shown on the page, never lost
        error, hint, _code = _error_texts(exc)
        log.warning("refresh from REGOS failed: %s", type(exc).__name__)
        _refresh_finish(status="failed", error=error, hint=hint)
        return f"failed: {type(exc).__name__}"
    _refresh_finish(
        status="done", stocks=len(result.stocks), unmapped_stocks=result.unmapped_stocks,
        users=len(result.users), unmapped_users=result.unmapped_users,
    )
    return f"{len(result.stocks)} stocks, {len(result.users)} users"


def regos_discover(*, client: RegosClient | None = None, create_missing: bool = False) -> DiscoverResult:
    """Stock/Get + User/Get → mapping rows (and with create_missing, branches/employees); idempotent."""
    own_client = client is None
    client = client or RegosClient.from_settings()
    try:
        return _regos_discover(client=client, create_missing=create_missing)
    finally:
        if own_client:
            client.close()


# --------------------------------------------------------------------------- reconciliation with REGOS


class ReconciliationRangeError(ValueError):
    """A reconciliation range REGOS's reports cannot answer in one query (reversed, or > 1 month)."""


def reconciliation_request(
    *, date_from: date, date_to: date, user: AbstractBaseUser | None = None,
    trigger: str = SyncRun.Trigger.USER,
) -> ReconciliationRun:
    """A queued reconciliation of date_from..date_to; raises ReconciliationRangeError (nothing written)
    unless the range is one REGOS report window (≤ 1 month, ``month_windows``)."""
    if date_to < date_from:
        raise ReconciliationRangeError(f"the range ends ({date_to}) before it starts ({date_from})")
    if len(month_windows(date_from, date_to)) != 1:
        raise ReconciliationRangeError(
            f"{date_from}..{date_to} is longer than one month; REGOS reports at most one month per query"
        )
    return ReconciliationRun.objects.create(
        date_from=date_from, date_to=date_to, trigger=trigger,
        requested_by=user if user is not None and user.is_authenticated else None,
    )


def reconciliation_run_enqueue(*, run: ReconciliationRun) -> None:
    """Hand the run to the django-q2 worker once the current transaction (if any) has committed."""

    def push() -> None:
        from django_q.tasks import async_task

        task_id = async_task("sync.tasks.reconciliation_run_task", str(run.id), task_name=f"reconcile-{run.id}")
        if task_id:
            ReconciliationRun.objects.filter(id=run.id).update(task_id=str(task_id)[:64])
            run.task_id = str(task_id)[:64]

    transaction.on_commit(push)


def reconciliation_run_execute(*, run_id: uuid.UUID | str, client: RegosClient | None = None) -> ReconciliationRun:
    """Claim the queued run (a conditional update: a redelivered task finds it taken and does nothing),
    compare, and upsert its result rows by their natural key. Requests go through the shared REGOS
    rate limit (``RegosClient.from_settings``) and are counted on the run."""
    from django.utils import timezone

    claimed = ReconciliationRun.objects.filter(id=run_id, status=ReconciliationRun.Status.QUEUED).update(
        status=ReconciliationRun.Status.RUNNING, started_at=timezone.now()
    )
    run = ReconciliationRun.objects.get(id=run_id)
    if not claimed:
        return run
    own_client = client is None
    client = client or RegosClient.from_settings()
    before = (client.stats.requests_made, client.stats.rate_limit_waits)
    engine = Reconciliation(client=client, first=run.date_from, last=run.date_to)
    status, error = ReconciliationRun.Status.SUCCEEDED, ""
    try:
        results = engine.execute()
    except Exception as exc:  # a failed run is recorded, never raised past the run row
        log.warning("reconciliation %s failed", run.id, exc_info=True)
        status, error = ReconciliationRun.Status.FAILED, _error_texts(exc)[0]
        results = engine.results
    finally:
        if own_client:
            client.close()
    branches = stock_branches()
    for result in results:
        ReconciliationRow.objects.update_or_create(
            run=run, kind=result.kind, regos_id=result.regos_id, date_from=result.first, date_to=result.last,
            defaults={
                "level": result.level, "stock_id": result.stock_id,
                "branch_id": branches.get(result.stock_id) if result.stock_id is not None else None,
                "our_count": result.ours.count, "regos_count": result.regos.count,
                "our_return_count": result.ours.return_count, "regos_return_count": result.regos.return_count,
                "our_amount": result.ours.amount, "regos_amount": result.regos.amount,
                "our_return_amount": result.ours.return_amount, "regos_return_amount": result.regos.return_amount,
                "payments": result.payments, "causes": result.causes,
            },
        )
    ReconciliationRun.objects.filter(id=run.id).update(
        status=status, error=error, finished_at=timezone.now(),
        requests_made=client.stats.requests_made - before[0],
        rate_limit_waits=client.stats.rate_limit_waits - before[1],
        registers_checked=sum(1 for r in results if r.kind == "register" and r.level == "range"),
        differences=sum(1 for r in results if r.level == "range" and not r.equal),
    )
    run.refresh_from_db()
    return run
