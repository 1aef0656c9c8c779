"""``manage.py regos_sync`` that SIGKILLs itself at one chosen point — for the crash tests only.

    python tests/reliability/crash_driver.py POINT regos_sync --from ... --to ...

POINT (the kill is ``os.kill(os.getpid(), SIGKILL)``: no cleanup, no finally, no atexit — what the OOM
killer or a power cut does to a worker):

- ``facts:YYYY-MM-DD``    right after that day's facts were window-replaced, before its history;
- ``history:YYYY-MM-DD``  inside that day's history rebuild, after its stale rows were deleted and
                          before the changed rows are written;
- ``totals``              between the Branch month-to-date and the Employee latest-day recomputation;
- ``none``                no kill (the test kills the process from outside, e.g. while it waits
                          for a slow REGOS answer).

The hooks wrap the engine's own functions; the engine itself carries no test hook. Before dying the
driver prints ``KILLING AT <point>`` on stderr so the test can tell its kill from an unrelated crash.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def die(point: str) -> None:
    sys.stderr.write(f"KILLING AT {point}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    from payroll.models import DailySalesHistory
    from sync.engine import history, runner

    kind, _, arg = point.partition(":")
    if kind == "facts":
        target = date.fromisoformat(arg)
        real_replace = runner.facts_window_replace

        def facts_then_die(*, day, rows, run_id):  # type: ignore[no-untyped-def]
            diff = real_replace(day=day, rows=rows, run_id=run_id)
            if day == target:
                die(point)
            return diff

        runner.facts_window_replace = facts_then_die
    elif kind == "history":
        target = date.fromisoformat(arg)
        manager = DailySalesHistory.objects
        real_update, real_create = manager.bulk_update, manager.bulk_create

        def dying(real):  # type: ignore[no-untyped-def]
            def write(objs, *args, **kwargs):  # type: ignore[no-untyped-def]
                objs = list(objs)
                if any(obj.date == target for obj in objs):
                    die(point)  # the day's deletions are done, its updates/inserts are not
                return real(objs, *args, **kwargs)

            return write

        manager.bulk_update = dying(real_update)
        manager.bulk_create = dying(real_create)
    elif kind == "totals":
        real_branch = history.branch_totals_recompute

        def branch_then_die(**kwargs):  # type: ignore[no-untyped-def]
            changed = real_branch(**kwargs)
            die(point)
            return changed

        history.branch_totals_recompute = branch_then_die
    elif kind != "none":
        raise SystemExit(f"unknown crash point {point!r}")


def main() -> None:
    point, *command = sys.argv[1:]
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "regos_admin.settings")
    import django

    django.setup()
    install(point)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *command])


if __name__ == "__main__":
    main()
