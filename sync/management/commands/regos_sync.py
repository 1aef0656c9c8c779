"""manage.py regos_sync [--from YYYY-MM-DD] [--to YYYY-MM-DD] — synchronous sync of business days.

Prints one line per day and a summary; exits 0 on success, 1 with one line on stderr otherwise. A success
that quarantined documents (REGOS sent them in a shape the figures cannot use) says "succeeded with
warnings", names the incomplete days on stderr, and still exits 0: every other figure was written.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from payroll.dates import today
from regos_admin.env import mask_key
from sync import services
from sync.models import SyncRun


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Invalid {option} date {value!r}: expected YYYY-MM-DD.")


class Command(BaseCommand):
    help = (
        "Pull REGOS cheques and wholesale documents for the business days FROM..TO (Asia/Tashkent, "
        "inclusive; default: the last REGOS_LOOKBACK_DAYS days ending today) and rebuild their daily history."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        # Plain strings, parsed in handle(): argparse errors would print usage lines, not one clear line.
        parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first business day")
        parser.add_argument(
            "--to", dest="date_to", metavar="YYYY-MM-DD", help="last business day (inclusive)"
        )

    def handle(self, *args: object, **options: object) -> None:
        # The command's output is English whatever LANGUAGE_CODE is (scripts read it); so are the hints.
        # One line on failure: the run records the details, so log records stay off stderr (-v 2 shows them).
        quiet = int(options.get("verbosity", 1)) < 2  # type: ignore[call-overload]
        logger = logging.getLogger("sync")
        level = logger.level
        if quiet:
            logger.setLevel(logging.CRITICAL)
        try:
            with translation.override("en"):
                self._handle(**options)  # type: ignore[arg-type]
        finally:
            logger.setLevel(level)

    def _handle(self, *args, date_from: str | None = None, date_to: str | None = None, **options) -> None:  # type: ignore[no-untyped-def]
        first = _parse_day(date_from, "--from")
        last = _parse_day(date_to, "--to")
        if first is None and last is None:
            first, last = services.sync_window_default()
        elif last is None:
            last = today()
        elif first is None:
            first = last - timedelta(days=settings.REGOS_LOOKBACK_DAYS - 1)
        assert first is not None and last is not None

        def on_join(run: SyncRun) -> None:
            self.stdout.write(
                f"Joining sync run {run.id} ({run.date_from}..{run.date_to}, {run.status}) "
                "instead of starting a second one."
            )

        try:
            run = services.sync_range(
                date_from=first,
                date_to=last,
                trigger=SyncRun.Trigger.COMMAND,
                on_day=self._print_day,
                on_join=on_join,
            )
        except services.SyncRangeError as exc:
            raise CommandError(str(exc))
        except services.SyncBusyError as exc:
            raise CommandError(str(exc))

        summary = (
            f"{run.date_from}..{run.date_to}: {run.days_done}/{run.days_total} days, "
            f"{run.documents_seen} documents, facts +{run.facts_inserted} ~{run.facts_updated} "
            f"-{run.facts_removed}, history rows written {run.history_rows_written}, "
            f"REGOS requests {run.requests_made} (rate-limit waits {run.rate_limit_waits}); run {run.id}"
        )
        if run.not_counted:
            summary += "; " + "; ".join(run.not_counted_lines)
        if run.status != SyncRun.Status.SUCCEEDED:
            detail = " ".join(f"{run.error} {run.error_hint}".split())
            raise CommandError(mask_key(f"Sync {run.status} ({summary}): {detail}"))
        if run.quarantined:
            from sync import selectors

            days = selectors.incomplete_days(date_from=run.date_from, date_to=run.date_to)
            listed = ", ".join(f"{day} ({count})" for day, count in days.items()) or "none (no readable date)"
            self.stdout.write(f"Sync succeeded with warnings: {summary}")
            self.stderr.write(
                f"Warning: {run.quarantined} document(s) quarantined: REGOS sent them in a shape regos-admin "
                f"cannot use, so they are not in the figures. Incomplete days: {listed}. See Quarantined "
                "documents in the admin; the next sync in which REGOS sends them properly clears this."
            )
            return
        self.stdout.write(f"Sync succeeded: {summary}")

    def _print_day(self, report: services.DayReport) -> None:
        if report.status == "followed":
            self.stdout.write(f"{report.date}  documents {report.cheques}  (synced by the joined run)")
            return
        if report.status == "unchanged":
            self.stdout.write(
                f"{report.date}  cheques {report.cheques}  wholesale {report.wholesale}  unchanged since it was written"
            )
            return
        self.stdout.write(
            f"{report.date}  cheques {report.cheques}  wholesale {report.wholesale}  "
            f"facts +{report.inserted} ~{report.updated} -{report.removed}  "
            f"history rows {report.history_rows}"
            + (f"  quarantined {report.quarantined} (incomplete)" if report.quarantined else "")
        )
