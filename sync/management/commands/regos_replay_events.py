"""manage.py regos_replay_events [--from ISO] — fetch REGOS events missed while the webhook was down.

Reads ``Event/Get`` after the stored cursor (KeyValue ``regos-event-cursor``), or from ``--from``
(an ISO date or date-time; without an offset it is Asia/Tashkent time; a plain date means that day's
00:00), or — first time — from the start of the lookback window. Each event is stored through the
webhook inbox (source "replay", duplicates ignored), its day is marked dirty and one re-sync is
queued. Exits 1 with one line on stderr for a bad ``--from`` or a REGOS error.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from payroll.dates import TASHKENT, day_start
from regos_admin.env import mask_key
from sync.inbox import inbox_replay
from sync.regos.errors import RegosError


def parse_from(value: str) -> datetime:
    text = value.strip()
    try:
        moment = day_start(date.fromisoformat(text)) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"Invalid --from {value!r}: expected an ISO date or date-time, "
            "e.g. 2026-11-25 or 2026-11-25T08:00+05:00."
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=TASHKENT)
    if moment > timezone.now():
        raise CommandError(f"Invalid --from {value!r}: it is in the future.")
    return moment


class Command(BaseCommand):
    help = "Replay missed REGOS webhook events with Event/Get and queue a re-sync of the days they touch."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        # A plain string parsed in handle(): one clear line instead of argparse's usage block.
        parser.add_argument("--from", dest="from_", metavar="ISO", help="replay events since this moment")

    def handle(self, *args, from_: str | None = None, **options) -> None:  # type: ignore[no-untyped-def]
        since = parse_from(from_) if from_ is not None else None
        if options.get("verbosity", 1) < 2:
            logging.getLogger("sync").setLevel(logging.WARNING)
        try:
            result = inbox_replay(from_date=since)
        except RegosError as exc:
            hint = f" {exc.hint}" if getattr(exc, "hint", "") else ""
            raise CommandError(" ".join(mask_key(f"Event/Get failed: {exc}.{hint}").split()))
        self.stdout.write(f"Replayed {result.summary()}.")
