"""manage.py regos_schedule [--install] [--show] — the django-q2 schedules of the REGOS sync.

``--install`` creates the daily-sync and worker-heartbeat schedules if missing (idempotent; the
same runs automatically after ``migrate``); ``--show`` (the default) lists them with the next run
in Asia/Tashkent and UTC. See ``sync.schedule`` for what an install changes and what it leaves.
"""

from __future__ import annotations

from datetime import UTC

from django.core.management.base import BaseCommand

from payroll.dates import TASHKENT
from sync.schedule import schedule_install, schedules_get


class Command(BaseCommand):
    help = "Install (idempotently) or show the django-q2 schedules of the REGOS sync."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--install", action="store_true", help="create missing schedules")
        parser.add_argument("--show", action="store_true", help="list the schedules (default)")

    def handle(self, *args, install: bool = False, show: bool = False, **options) -> None:  # type: ignore[no-untyped-def]
        if install:
            self.stdout.write(f"REGOS schedules: {schedule_install().summary()}")
        if show or not install:
            rows = schedules_get()
            if not rows:
                self.stdout.write("No REGOS schedules installed; run: manage.py regos_schedule --install")
            for row in rows:
                when = row["next_run"]
                next_run = "—"
                if when:
                    local, utc = when.astimezone(TASHKENT), when.astimezone(UTC)
                    next_run = f"{local:%Y-%m-%d %H:%M} Asia/Tashkent ({utc:%H:%M} UTC)"
                every = f"cron '{row['cron']}'" if row["cron"] else f"every {row['minutes'] or 1} min"
                repeats = "paused (repeats=0)" if row["repeats"] == 0 else ""
                line = f"{row['name']}: {row['func']}, {every}, next {next_run} {repeats}"
                self.stdout.write(line.rstrip())
