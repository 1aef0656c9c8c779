"""``manage.py export_sales --from YYYY-MM-DD --to YYYY-MM-DD --format csv|xlsx --output FILE``.

The output format is fixed (see payroll.exports). With ``--output -`` the CSV goes to stdout and
stdout carries nothing else: every message goes to stderr. A file is written to a temporary name in
the same directory and renamed at the end, so a failure never leaves a partial file behind.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from payroll import dates
from payroll.exports import write_csv, write_xlsx
from payroll.selectors import export_rows

FORMATS = ("csv", "xlsx")


def _parse_day(value: str | None, option: str) -> date:
    if not value:
        raise CommandError(f"{option} is required (a business day as YYYY-MM-DD)")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} {value!r} is not a date: use YYYY-MM-DD, e.g. 2026-11-01")
    if not dates.supported(day):
        raise CommandError(f"{option} {value} is outside {dates.FIRST_DAY}..{dates.LAST_DAY}")
    return day


class Command(BaseCommand):
    help = (
        "Export the daily sales history (one row per business day, branch and employee) to CSV or XLSX. "
        "Dates are inclusive Asia/Tashkent business days."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        # Plain strings, validated in handle(): a bad value gets one clear line, not argparse's usage dump.
        parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first business day")
        parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last business day, inclusive")
        parser.add_argument("--format", dest="fmt", default="csv", metavar="csv|xlsx", help="default csv")
        parser.add_argument("--output", metavar="FILE", help="file to write; '-' = stdout (csv only)")

    def handle(  # type: ignore[no-untyped-def]
        self, *args, date_from=None, date_to=None, fmt="csv", output=None, **options
    ) -> None:
        first = _parse_day(date_from, "--from")
        last = _parse_day(date_to, "--to")
        if last < first:
            raise CommandError(f"--to {last} is before --from {first}")
        fmt = (fmt or "").lower()
        if fmt not in FORMATS:
            raise CommandError(f"unknown --format {fmt!r}: use csv or xlsx")
        if not output:
            raise CommandError("--output is required: a file name, or '-' for stdout (csv only)")
        if output == "-" and fmt == "xlsx":
            raise CommandError("XLSX is binary and cannot go to stdout: give --output FILE.xlsx")

        rows = export_rows(date_from=first, date_to=last)
        if output == "-":
            try:
                count = write_csv(rows, _StdoutText(self.stdout))
                self.stdout.flush()
            except BrokenPipeError:
                # The reader stopped early (`| head`): not an error; the rest of the export is dropped quietly.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return
            self.stderr.write(f"Exported {count} rows ({first} … {last}).")
            return

        target = Path(output)
        if not target.parent.is_dir():
            raise CommandError(f"cannot write {output}: directory {target.parent} does not exist")
        count = self._write_atomically(target, fmt, rows)
        self.stderr.write(f"Exported {count} rows ({first} … {last}) to {target}.")

    @staticmethod
    def _write_atomically(target: Path, fmt: str, rows) -> int:  # type: ignore[no-untyped-def]
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            if fmt == "csv":
                with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                    count = write_csv(rows, out)
            else:
                os.close(handle)
                count = write_xlsx(rows, temp_name)
            os.chmod(temp_name, 0o644)  # mkstemp makes 0600; an export is meant to be shared
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return count


class _StdoutText:
    """A text stream over the command's stdout that writes the bytes as given (no added newlines)."""

    def __init__(self, wrapper) -> None:  # type: ignore[no-untyped-def]
        self._wrapper = wrapper

    def write(self, text: str) -> int:
        self._wrapper.write(text, ending="")
        return len(text)
