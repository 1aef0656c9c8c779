from __future__ import annotations

import logging

from django.apps import AppConfig
from django.db import DatabaseError
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)


def install_schedules(sender: AppConfig, using: str = "default", verbosity: int = 1,
                      **kwargs: object) -> None:
    """After every migrate: create the django-q2 schedules if missing (idempotent; see sync.schedule)."""
    from django.db import router

    from sync.schedule import schedule_install

    try:
        from django_q.models import Schedule
    except ImportError:  # django_q not installed: nothing to schedule with
        return
    if not router.allow_migrate_model(using, Schedule) or using != "default":
        return
    try:
        result = schedule_install()
    except DatabaseError as exc:
        # e.g. `migrate sync` before django_q's tables exist: the next full migrate installs it.
        logger.warning("REGOS schedules not installed yet: %s", exc)
        return
    if verbosity >= 1 and (result.created or result.updated):
        print(f"  REGOS schedules: {result.summary()}")  # noqa: T201 — migrate's own output style


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = _("REGOS synchronisation")

    def ready(self) -> None:
        # dispatch_uid: ready() can run more than once in tests; the handler must connect once.
        post_migrate.connect(install_schedules, sender=self, dispatch_uid="sync.install_schedules")
        # Before the first connection opens: every SQLite connection gets the per-request time limit.
        import regos_admin.request_limits  # noqa: F401
        import regos_admin.security  # noqa: F401 — registers the check --deploy note on silenced warnings
        import regos_admin.sqlite  # noqa: F401  (WAL on SQLite files)
