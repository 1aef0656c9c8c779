"""django-q2 task functions of the schedules and the webhook inbox — thin: the work is in services.

- ``scheduled_sync``: the ``regos-daily-sync`` schedule (``sync.schedule.scheduled_sync_execute``).
- ``dirty_days_resync``: the coalescing re-sync of days marked dirty by webhooks/replays
  (``sync.inbox.inbox_resync_execute``).
- ``regos_refresh``: "Refresh from REGOS" pressed in the panel (``sync.services.regos_refresh_execute``).
- ``worker_heartbeat``: every minute; proves a worker is alive and sweeps stuck inbox events.

Each raises when its work failed, so django-q2 records a Failure and retries (``max_attempts``).
"""

from __future__ import annotations

from sync.inbox import inbox_resync_execute
from sync.schedule import scheduled_sync_execute, worker_heartbeat_execute


def scheduled_sync() -> str:
    return scheduled_sync_execute()


def dirty_days_resync() -> str:
    return inbox_resync_execute().summary()


def regos_refresh() -> str:
    from sync.services import regos_refresh_execute

    return regos_refresh_execute()


def worker_heartbeat() -> None:
    worker_heartbeat_execute()
