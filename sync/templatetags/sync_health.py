"""``{% sync_index_health as health %}`` — the data of the admin index's sync health include.

Used by ``templates/sync/_index_health.html`` (the admin index includes that template). Never
raises: a broken health query must not take the admin index down with it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django import template

from sync.health import IndexHealth, SyncStatus, index_health_get, sync_status_get

register = template.Library()
logger = logging.getLogger(__name__)


@register.simple_tag
def sync_index_health() -> IndexHealth | None:
    try:
        return index_health_get()
    except Exception:
        logger.exception("sync health for the admin index failed")
        return None


@register.simple_tag
def sync_status() -> SyncStatus | None:
    """The status at a glance (``sync.health.sync_status_get``); None if it cannot be read."""
    try:
        return sync_status_get()
    except Exception:
        logger.exception("sync status for a report failed")
        return None


@register.filter
def regos_duration(value: timedelta | None) -> str:
    """H:MM:SS, as the run pages show a duration."""
    if value is None:
        return ""
    seconds = max(0, int(value.total_seconds()))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
