"""manage.py regos_reconcile --month YYYY-MM | --from YYYY-MM-DD --to YYYY-MM-DD — compare our figures
with REGOS's own reports now (synchronously) and record the run.

Prints one line per register/stock (✔ equal, ✘ with the difference) and each day bisection pinned;
exits 0 when all is equal, 1 with one line on stderr when the range is bad or the run failed, and 2
when it found differences (so a script can tell them apart)."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from payroll.dates import month_bounds
from sync import services
from sync.models import ReconciliationRun, SyncRun


def _parse(value: str, option: str, *, month: bool = False) -> date:
    try:
        return date.fromisoformat(f"{value}-01" if month else value)
    except ValueError:
        shape = "YYYY-MM" if month else "YYYY-MM-DD"
        raise CommandError(f"Invalid {option} {value!r}: expected {shape}.") from None


class Command(BaseCommand):
    help = "Reconcile our retail (per register) and wholesale (per stock) figures with REGOS's own reports."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--month", metavar="YYYY-MM", help="a calendar month")
        parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first business day")
        parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last business day (inclusive)")

    def handle(self, *args: object, month: str | None = None, date_from: str | None = None,
               date_to: str | None = None, **options: object) -> None:
        if month and (date_from or date_to):
            raise CommandError("Give either --month or --from/--to, not both.")
        if month:
            first, last = month_bounds(_parse(month, "--month", month=True))
        elif date_from and date_to:
            first, last = _parse(date_from, "--from"), _parse(date_to, "--to")
        else:
            raise CommandError("Give --month YYYY-MM, or both --from and --to.")
        with translation.override("en"):
            try:
                run = services.reconciliation_request(date_from=first, date_to=last, trigger=SyncRun.Trigger.COMMAND)
            except services.ReconciliationRangeError as exc:
                raise CommandError(str(exc)) from None
            run = services.reconciliation_run_execute(run_id=run.id)
            for row in run.rows.order_by("kind", "regos_id", "level", "date_from"):
                what = f"{row.get_kind_display()} {row.regos_id}"
                when = f"{row.date_from}" if row.level == row.Level.DAY else f"{row.date_from}..{row.date_to}"
                mark = "✔" if row.equal else f"✘ count {row.count_difference:+d}, amount {row.amount_difference:+}"
                self.stdout.write(f"{'  ' if row.level == row.Level.DAY else ''}{what} {when}: {mark}")
                for line in row.cause_lines:
                    self.stdout.write(f"    {line}")
            self.stdout.write(
                f"reconciliation {run.id} {run.status}: {run.registers_checked} registers, "
                f"{run.differences} differences, {run.requests_made} REGOS requests"
            )
        if run.status == ReconciliationRun.Status.FAILED:
            raise CommandError(f"reconciliation failed: {run.error}")
        if run.differences:
            raise SystemExit(2)
