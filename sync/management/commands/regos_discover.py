"""manage.py regos_discover [--create-missing] — REGOS stocks and users with their mapping state."""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from regos_admin.env import mask_key
from sync import services
from sync.regos.errors import RegosError


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


class Command(BaseCommand):
    help = (
        "List REGOS stocks (department / store) and users (sellers / cashiers) with their mapping state; "
        "--create-missing creates a Branch per unmapped stock and an Employee per unmapped user."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--create-missing",
            action="store_true",
            help="create and map a Branch / Employee for every unmapped stock / user",
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

    def _handle(self, *args, create_missing: bool = False, **options) -> None:  # type: ignore[no-untyped-def]
        try:
            result = services.regos_discover(create_missing=create_missing)
        except RegosError as exc:
            raise CommandError(mask_key(" ".join(f"REGOS error: {exc} {exc.hint}".split())))

        self.stdout.write("REGOS stocks (department / store):")
        for text in _table(
            ["ID", "NAME", "STATE", "BRANCH"],
            [
                [
                    str(s.regos_id),
                    s.name + (" (deleted in REGOS)" if s.deleted else ""),
                    s.state,
                    s.branch or "-",
                ]
                for s in result.stocks
            ],
        ):
            self.stdout.write("  " + text)
        self.stdout.write("REGOS users (sellers / cashiers):")
        for text in _table(
            ["ID", "FULL NAME", "LOGIN", "STATE", "EMPLOYEE"],
            [
                [
                    str(u.regos_id),
                    u.full_name + ("" if u.active else " (inactive)"),
                    u.login or "-",
                    u.state,
                    u.employee or "-",
                ]
                for u in result.users
            ],
        ):
            self.stdout.write("  " + text)
        self.stdout.write(
            f"{len(result.stocks)} stocks ({result.unmapped_stocks} unmapped), "
            f"{len(result.users)} users ({result.unmapped_users} unmapped); "
            f"created {result.branches_created} branches, {result.employees_created} employees, "
            f"{result.mappings_created} new mapping rows; {result.days_changed} days re-aggregated."
        )
