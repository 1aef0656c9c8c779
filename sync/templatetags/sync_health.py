"""``{% sync_index_health as health %}`` — the data of the admin index's sync health include.

Used by ``templates/sync/_index_health.html`` (the admin index includes that template). Never
raises: a broken health query must not take the admin index down with it.
"""

from __future__ import annotations

import logging

from django import template

from sync.health import IndexHealth, index_health_get

register = template.Library()
logger = logging.getLogger(__name__)


@register.simple_tag
def sync_index_health() -> IndexHealth | None:
    try:
        return index_health_get()
    except Exception:
        logger.exception("sync health for the admin index failed")
        return None
