"""A long sync split into day slices that several django-q2 workers take in parallel.

One parent ``SyncRun`` covers the whole range (created and joined as usual by ``sync_run_request``).
``sync_run_sliced_task`` claims it (queued → running) and enqueues one ``sync_slice_task`` per slice
of ``SLICE_DAYS`` days, all in the django-q2 group ``sync-run-<run id>``. Each slice task asks the
engine to sync only its days under the parent run (``services.sync_slice_execute``), then records a
marker; the slice whose marker completes the set wins a conditional update and finalizes the run
(``services.sync_run_finalize``: history of days that lost documents to other slices, totals, final
status). Nothing here uses a transaction or a lock:

* a **plan** row ``KeyValue("slices:<run id>") = "<number of slices>,<days per slice>"`` is written
  before enqueuing;
* a **marker** row per slice ``KeyValue("slice:<run id>:<first day>") = "done" | "failed: <error>"``
  (one row per slice, so slices never contend for a row);
* **finalization** is claimed by ``SyncRun.filter(id=…, status=running, finished_at=None)
  .update(finished_at=now)``: exactly one slice's update matches.

Slices are idempotent because every day is: the engine window-replaces a day's facts and rebuilds
its history, so a redelivered or retried slice rewrites the same rows. Progress is aggregated from
the markers (``slices_progress``) and from the counters the engine adds to the parent run with
``F()`` increments (``days_done``, ``facts_inserted``, …).

The REGOS rate limit is per key, shared by every slice through ``sync.regos.shared_limit``: slices
speed a sync up only while a single worker cannot use the whole budget on its own (request latency
and database writes between requests); see deploy/README.md, "Scaling".

What the engine must expose in ``sync.services`` (not there yet — the tasks fail with a clear message
until it is):

* ``sync_slice_execute(*, run_id, date_from, date_to) -> object`` — sync only these days (inside the
  parent's range) for a parent run that is already ``running``: no claim, no ``run_finish``, no totals;
  add its counters to the parent with ``F()`` increments and bump ``heartbeat_at``; raise on failure
  (after adding what it did). Days moved *out of* the slice (REGOS date edits) are returned or stored
  for the finalizer.
* ``sync_run_finalize(*, run_id, failed: list[tuple[date, date, str]]) -> SyncRun`` — re-aggregate
  the days other slices took documents from, recompute totals once, rebuild ``progress`` from
  ``HistoryDay.synced_at`` and set the status: succeeded, partial (some slices failed) or failed.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import IntegrityError
from django.utils import timezone

from sync.models import KeyValue, SyncRun

log = logging.getLogger(__name__)

SLICE_DAYS = 7
PLAN_PREFIX = "slices:"
MARKER_PREFIX = "slice:"
DONE = "done"
FAILED = "failed"


def range_slices(date_from: date, date_to: date, days: int = SLICE_DAYS) -> list[tuple[date, date]]:
    """Consecutive ``(first, last)`` day ranges of at most ``days`` days covering the range exactly."""
    if days < 1:
        raise ValueError("days must be at least 1")
    if date_to < date_from:
        raise ValueError(f"date_to {date_to} is before date_from {date_from}")
    slices = []
    first = date_from
    while first <= date_to:
        last = min(first + timedelta(days=days - 1), date_to)
        slices.append((first, last))
        first = last + timedelta(days=1)
    return slices


def _plan_key(run_id: uuid.UUID | str) -> str:
    return f"{PLAN_PREFIX}{run_id}"


def _marker_prefix(run_id: uuid.UUID | str) -> str:
    return f"{MARKER_PREFIX}{run_id}:"


def _marker_key(run_id: uuid.UUID | str, first: date) -> str:
    return f"{_marker_prefix(run_id)}{first.isoformat()}"  # 6 + 36 + 1 + 10 = 53 ≤ 64


def _put(key: str, value: str) -> None:
    """Create or overwrite one KeyValue row without a transaction (safe on MongoDB)."""
    if KeyValue.objects.filter(key=key).update(value=value, updated_at=timezone.now()):
        return
    with contextlib.suppress(IntegrityError):
        KeyValue.objects.create(key=key, value=value)
        return
    KeyValue.objects.filter(key=key).update(value=value, updated_at=timezone.now())


# --- dispatch ------------------------------------------------------------------------------------


def slices_enqueue(*, run: SyncRun, days: int = SLICE_DAYS) -> list[str]:
    """Plan the run's slices and queue one task per slice; returns the django-q2 task ids."""
    from django_q.tasks import async_task

    slices = range_slices(run.date_from, run.date_to, days)
    _put(_plan_key(run.id), f"{len(slices)},{days}")
    task_ids = []
    for first, last in slices:
        task_ids.append(async_task(
            "sync.slices.sync_slice_task", str(run.id), first.isoformat(), last.isoformat(),
            group=f"sync-run-{run.id}", task_name=f"sync-slice-{run.id}-{first.isoformat()}",
        ))
    return task_ids


def sync_run_sliced_task(run_id: str, days: int = SLICE_DAYS) -> str:
    """django-q2 task: claim a queued run and fan it out into slice tasks."""
    from sync.engine.runs import run_claim

    run = run_claim(run_id=run_id)
    if run is None:
        return f"run {run_id} is not ours to run (finished, or running elsewhere)"
    task_ids = slices_enqueue(run=run, days=days)
    return f"run {run_id}: {len(task_ids)} slice(s) of {days} day(s) queued"


# --- one slice -----------------------------------------------------------------------------------


def _engine(name: str):  # type: ignore[no-untyped-def]
    from sync import services

    function = getattr(services, name, None)
    if function is None:
        raise NotImplementedError(f"sync.services.{name} does not exist yet (see sync/slices.py)")
    return function


def sync_slice_task(run_id: str, first: str, last: str) -> str:
    """django-q2 task: sync one slice of a running parent run; the last slice to finish finalizes it.

    Failures are recorded in the slice's marker (and so in the parent's final status), not raised:
    the REGOS client already retried what retrying can fix, and the parent run is retried as a whole.
    """
    first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
    status = SyncRun.objects.filter(id=run_id).values_list("status", flat=True).first()
    if status != SyncRun.Status.RUNNING:
        return f"run {run_id} is {status or 'gone'}: slice {first}..{last} skipped"
    done = KeyValue.objects.filter(key=_marker_key(run_id, first_day)).values_list("value", flat=True).first()
    if done == DONE:  # redelivered after it finished
        outcome = f"slice {first}..{last} already done"
    else:
        try:
            _engine("sync_slice_execute")(run_id=run_id, date_from=first_day, date_to=last_day)
        except Exception as exc:  # noqa: BLE001 — recorded on the marker, reported by the finalizer
            log.exception("sync run %s: slice %s..%s failed", run_id, first, last)
            message = " ".join(f"{exc.__class__.__name__}: {exc}".split())[:500]
            _put(_marker_key(run_id, first_day), f"{FAILED}: {message}")
            outcome = f"slice {first}..{last} failed: {message}"
        else:
            _put(_marker_key(run_id, first_day), DONE)
            outcome = f"slice {first}..{last} done"
    slices_finish_if_complete(run_id)
    return outcome


# --- progress and the end ------------------------------------------------------------------------


@dataclass(frozen=True)
class SliceProgress:
    planned: int
    done: int
    failed: list[tuple[date, str]]

    @property
    def finished(self) -> int:
        return self.done + len(self.failed)

    @property
    def complete(self) -> bool:
        return self.planned > 0 and self.finished >= self.planned


def _plan(run_id: uuid.UUID | str) -> tuple[int, int]:
    """(number of slices, days per slice) of the run; (0, 0) when it was not sliced."""
    value = KeyValue.objects.filter(key=_plan_key(run_id)).values_list("value", flat=True).first()
    if not value:
        return 0, 0
    count, days = value.split(",")
    return int(count), int(days)


def slices_progress(run_id: uuid.UUID | str) -> SliceProgress:
    planned, _days = _plan(run_id)
    done, failed = 0, []
    prefix = _marker_prefix(run_id)
    for key, value in KeyValue.objects.filter(key__startswith=prefix).values_list("key", "value"):
        if value == DONE:
            done += 1
        else:
            failed.append((date.fromisoformat(key[len(prefix):]), value.removeprefix(f"{FAILED}: ")))
    return SliceProgress(planned=planned, done=done, failed=sorted(failed))


def slices_finish_if_complete(run_id: uuid.UUID | str) -> SyncRun | None:
    """Finalize the parent run if every slice has finished and nobody else has; the run, else None."""
    progress = slices_progress(run_id)
    if not progress.complete:
        return None
    won = SyncRun.objects.filter(id=run_id, status=SyncRun.Status.RUNNING, finished_at__isnull=True).update(
        finished_at=timezone.now(), heartbeat_at=timezone.now())
    if not won:
        return None
    last_of = dict(_slice_bounds(run_id))
    failed = [(first, last_of.get(first, first), error) for first, error in progress.failed]
    run = _engine("sync_run_finalize")(run_id=run_id, failed=failed)
    KeyValue.objects.filter(key__startswith=_marker_prefix(run_id)).delete()
    KeyValue.objects.filter(key=_plan_key(run_id)).delete()
    return run


def _slice_bounds(run_id: uuid.UUID | str) -> list[tuple[date, date]]:
    run = SyncRun.objects.filter(id=run_id).values("date_from", "date_to").first()
    _count, days = _plan(run_id)
    if run is None or not days:
        return []
    return range_slices(run["date_from"], run["date_to"], days)
