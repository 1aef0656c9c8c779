"""django-q2 task entry points: thin wrappers over sync.services."""

from __future__ import annotations

from sync import services
from sync.models import SyncRun


class SyncRunFailed(RuntimeError):
    """Raised so django-q2 records the task as failed; the run row holds the details."""


def sync_run_task(run_id: str) -> str:
    before = SyncRun.objects.filter(id=run_id).values_list("status", flat=True).first()
    if before is None or before not in SyncRun.ACTIVE:
        # Redelivered after the run ended (or the run was deleted): nothing to do, and not a failure.
        return f"run {run_id} already {before or 'gone'}"
    run = services.sync_run_execute(run_id=run_id)
    if run.status in (SyncRun.Status.FAILED, SyncRun.Status.PARTIAL):
        raise SyncRunFailed(f"sync run {run.id} {run.status}: {run.error}")
    return f"run {run.id} {run.status}"


def sync_scheduled_task() -> str:
    """The scheduled pull of the lookback window (settings.REGOS_SYNC_CRON)."""
    run = services.sync_scheduled()
    if run is None:
        return "joined an active run"
    if run.status in (SyncRun.Status.FAILED, SyncRun.Status.PARTIAL):
        raise SyncRunFailed(f"sync run {run.id} {run.status}: {run.error}")
    return f"run {run.id} {run.status}"


def reconciliation_run_task(run_id: str) -> str:
    """Execute a queued reconciliation (a redelivery finds it claimed and does nothing)."""
    run = services.reconciliation_run_execute(run_id=run_id)
    if run.status == run.Status.FAILED:
        raise SyncRunFailed(f"reconciliation {run.id} failed: {run.error}")
    return f"reconciliation {run.id} {run.status}: {run.differences} differences"
