"""Serve a generated REGOS world on 127.0.0.1 until SIGTERM/SIGINT (the demo and the benchmark).

Prints exactly one line, ``READY http://127.0.0.1:<port>/gateway/out``, once listening (``--port 0``
picks a free port). The key is never printed. A bad option or fault plan exits non-zero with one line.

The key it accepts: ``--key`` (visible in ``ps``: for throwaway keys), else ``REGOS_EMULATOR_KEY``, else
``REGOS_INTEGRATION_KEY`` (the settings value, ``.env`` included: the app and the emulator started from
one environment agree), else the demo key.
"""

from __future__ import annotations

import os
import signal
import threading
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sync.regos.emulator import DEMO_KEY, FakeRegosServer, generate_dataset
from sync.regos.emulator.faults import parse_fault_plan
from sync.regos.emulator.protocol import NEXT_OFFSET_RULES

# Checked in handle() rather than by argparse types, so a bad value is one line, not a usage dump.
_AT_LEAST_ONE = ("stocks", "cashes_per_stock", "users", "days", "page_cap", "burst")


def emulator_key(option: str | None) -> str:
    from django.conf import settings

    return option or os.environ.get("REGOS_EMULATOR_KEY", "").strip() or settings.REGOS_INTEGRATION_KEY or DEMO_KEY


class Command(BaseCommand):
    help = "Run the local REGOS emulator with a generated dataset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
        parser.add_argument(
            "--key", default=None,
            help="the key to accept (default: $REGOS_EMULATOR_KEY, else $REGOS_INTEGRATION_KEY, else the demo key)",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--stocks", type=int, default=5)
        parser.add_argument("--cashes-per-stock", type=int, default=2)
        parser.add_argument("--users", type=int, default=12)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument(
            "--end-day", default=None, help="last generated day, YYYY-MM-DD (default: today in Tashkent)"
        )
        parser.add_argument("--cheques-per-day", type=int, default=200)
        parser.add_argument("--wholesale-per-day", type=int, default=None)
        parser.add_argument("--page-cap", type=int, default=1000, help="rows per page at most")
        parser.add_argument(
            "--next-offset", default="rows", metavar="{" + ",".join(NEXT_OFFSET_RULES) + "}",
            help="the next_offset a page carries: offset + rows, offset + the limit asked, or 0 on the last page",
        )
        parser.add_argument("--rate", type=float, default=2.0, help="token refill per second (REGOS: 2)")
        parser.add_argument("--burst", type=int, default=50, help="bucket size (REGOS: 50)")
        parser.add_argument("--no-rate-limit", action="store_true")
        parser.add_argument("--fault-plan", default=None, help="see sync/regos/emulator/faults.py")
        parser.add_argument("--webhook-url", default=None)

    def handle(self, *args: Any, **opts: Any) -> None:
        for name in _AT_LEAST_ONE:
            if opts[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be ≥ 1")
        if opts["cheques_per_day"] < 0:
            raise CommandError("--cheques-per-day must be ≥ 0")
        end_day = None
        if opts["end_day"]:
            try:
                end_day = date.fromisoformat(opts["end_day"])
            except ValueError:
                raise CommandError("--end-day must be a date like 2026-08-04") from None
        try:
            parse_fault_plan(opts["fault_plan"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if opts["webhook_url"] and not opts["webhook_url"].startswith(("http://", "https://")):
            raise CommandError("--webhook-url must be an http(s) URL")
        if opts["next_offset"] not in NEXT_OFFSET_RULES:
            raise CommandError(f"--next-offset must be one of {', '.join(NEXT_OFFSET_RULES)}")
        if opts["rate"] <= 0:
            raise CommandError("--rate must be > 0")
        try:
            dataset = generate_dataset(
                seed=opts["seed"],
                stocks=opts["stocks"],
                cashes_per_stock=opts["cashes_per_stock"],
                users=opts["users"],
                days=opts["days"],
                cheques_per_day=opts["cheques_per_day"],
                end_day=end_day,
                wholesale_per_day=opts["wholesale_per_day"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        limited = not opts["no_rate_limit"]
        server = FakeRegosServer(
            dataset,
            key=emulator_key(opts["key"]),
            page_cap=opts["page_cap"],
            next_offset=opts["next_offset"],
            rate_per_sec=opts["rate"] if limited else None,
            burst=opts["burst"] if limited else None,
            fault_plan=opts["fault_plan"],
            webhook_url=opts["webhook_url"],
            host=opts["host"],
            port=opts["port"],
        )
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        try:
            server.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {opts['host']}:{opts['port']}: {exc.strerror}") from None
        try:
            self.stdout.write(f"READY {server.base_url}")
            self.stdout.flush()
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
