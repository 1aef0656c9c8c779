"""SIGKILL of the sync process in the middle of a month-long sync, then the next run repairs.

Set-up per kill point: a generated month (30 days) served by ``manage.py regos_fake_server`` in its own
process; a clean in-process sync writes the "old" state (checked against the oracle); REGOS data then
changes on several days ("new"), including, on the day the kill targets, a (branch, seller) row that
disappears and another that changes. ``manage.py regos_sync`` runs in a subprocess
(``crash_driver.py``) against the test database file (SQLite) or server (MongoDB) and is killed with
SIGKILL at one point:

- ``fetch``: while it waits for a REGOS answer held 30 s by the fault plan (killed from outside);
- ``facts``: after a day's facts were replaced, before its history;
- ``history``: inside a day's history rebuild, after deletions and before the changed rows;
- ``totals``: between the Branch and the Employee totals.

What the engine guarantees, and what is asserted:

- a day's write (marker, facts, history) is one transaction on SQLite: after any kill every day's
  history is exactly the old or exactly the new set, never a mix;
- MongoDB (no transactions here) may leave the killed day's rows mixed, but then — and only then for
  that day — ``HistoryDay`` is "rebuilding" (``sync.selectors.days_needing_repair``, and ``/health/``
  lists it under ``days_rebuilding``); every other day is exactly old or new;
- the killed run stays "running" (nobody is left to mark it), but it recorded its process (host, pid,
  start time): the next trigger on this host sees that process gone, marks the run failed at once —
  not after ``REGOS_RUN_STALE_AFTER_S`` — and starts a fresh run, which repairs everything: facts,
  history and totals equal the new oracle, no day is left "rebuilding".
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from datetime import date
from typing import Any

import pytest
from django.test import Client

from sync import selectors, services
from sync.engine.runs import run_is_stale
from sync.models import SyncRun
from tests.fixtures.regos import REGOS_TEST_KEY
from tests.reliability.oracle import State, attributed, database_state
from tests.reliability.support import (
    ROOT,
    Record,
    World,
    assert_state,
    child_env,
    fast_client,
    make_world,
    stop_process,
    wait_until,
)

DRIVER = ROOT / "tests" / "reliability" / "crash_driver.py"
PAGE = 20
POINTS = ["fetch", "facts", "history", "totals"]


def target_changes(world: World, day: date) -> list[tuple[str, dict[str, Any]]]:
    """On ``day``: every document of one mapped (stock, seller) pair goes away (its history row is
    deleted) and one cheque of another pair is re-priced (its row changes)."""
    facts = [f for f in world.oracle().facts if f[2] == day and f[3] in world.mapping.branches]
    groups: dict[tuple, list] = {}
    for fact in facts:
        groups.setdefault((fact[3], attributed(fact)), []).append(fact)
    changed = max((g for g in groups.values() if any(f[0] == "cheque" for f in g)), key=len)
    others = [g for g in groups.values() if g is not changed]
    assert others, f"{day} has a single (stock, seller) pair: pick another seed"
    gone = min(others, key=len)
    ops: list[tuple[str, dict[str, Any]]] = []
    for fact in gone:
        if fact[0] == "cheque":
            ops.append(("cancel_cheque", {"uuid": fact[1]}))
        elif fact[0] == "wholesale":
            ops.append(("perform_cancel_wholesale", {"id": int(fact[1])}))
        else:
            ops.append(("perform_cancel_wholesale_return", {"id": int(fact[1])}))
    cheque = next(f for f in changed if f[0] == "cheque")
    ops.append(("set_cheque_amount", {"uuid": cheque[1], "amount": str(cheque[8] + 777)}))
    return ops


def history_by_day(state: State, days: list[date]) -> dict[date, list]:
    return {day: state.history_of(day) for day in days}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("point", POINTS)
def test_sigkill_mid_sync_never_mixes_a_day_and_the_next_run_repairs(
    point: str, emulator_process, settings, tmp_path, on_mongodb: bool, record: Record
) -> None:  # type: ignore[no-untyped-def]
    world = make_world(seed=23, range_days=30, cheques_per_day=8, wholesale_per_day=1)
    target = world.days[12] if point == "facts" else world.days[18]
    kill_at = {"fetch": "none", "facts": f"facts:{target}", "history": f"history:{target}", "totals": "totals"}
    record(
        "Crash (SIGKILL)",
        {
            "fetch": "during fetch: waiting for a REGOS answer held 30 s",
            "facts": "between a day's facts and its history",
            "history": "inside a day's history rebuild (after deletions, before updates)",
            "totals": "between Branch and Employee totals",
        }[point] + " — 30-day `regos_sync`",
        "each day's history = old or new set (SQLite: always; MongoDB: else flagged rebuilding); "
        "next run: = oracle",
    )
    emulator = emulator_process(key=REGOS_TEST_KEY, args=[*world.emulator_args(), "--page-cap", str(PAGE)])
    settings.REGOS_BASE_URL, settings.REGOS_INTEGRATION_KEY = emulator.base_url, REGOS_TEST_KEY
    settings.REGOS_RATE_PER_SEC, settings.REGOS_BURST = 1000, 1000

    first = services.sync_range(date_from=world.first, date_to=world.last, client=fast_client())
    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    old = database_state()
    assert_state(old, world.oracle())

    ops = [*world.changes(), *target_changes(world, target)]
    world.apply(ops)
    for op, args in ops:
        emulator.control("POST", "mutate", {"op": op, **args})
    new = world.oracle()
    assert history_by_day(new, [target]) != history_by_day(old, [target])

    if point == "fetch":
        # Hold the 5th cheque page (mid-month) for 30 s; the kill comes long before it is answered.
        emulator.control("POST", "fault-plan", {"spec": "DocCheque/Get#5:slow=30"})
    env = child_env(
        DATABASE_URL=settings_database_url(), REGOS_BASE_URL=emulator.base_url,
        REGOS_INTEGRATION_KEY=REGOS_TEST_KEY, REGOS_RATE_PER_SEC="1000", REGOS_BURST="1000",
        REGOS_TIMEOUT_S="60", DJANGO_LOG_LEVEL="WARNING",
    )
    log = tmp_path / "crash.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(DRIVER), kill_at[point], "regos_sync", "--from", world.first.isoformat(),
             "--to", world.last.isoformat()],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        if point == "fetch":
            def held() -> bool:
                assert proc.poll() is None, log.read_text()
                return sum(emulator.control("GET", "stats")["faults"].values()) > 0

            wait_until(held, timeout=120, what="the held REGOS request")
            proc.send_signal(signal.SIGKILL)
        proc.wait(180)
    finally:
        stop_process(proc, sig=signal.SIGKILL)
    output = log.read_text()
    assert proc.returncode == -signal.SIGKILL, output
    if point != "fetch":
        assert f"KILLING AT {kill_at[point]}" in output, output

    killed = SyncRun.objects.exclude(pk=first.pk).get()
    assert killed.status == SyncRun.Status.RUNNING  # nobody could mark it: the process is gone
    after = database_state()
    repair_days = set(selectors.days_needing_repair())
    mixed = []
    for day in world.days:
        rows = after.history_of(day)
        if rows not in (old.history_of(day), new.history_of(day)):
            mixed.append(day)
    assert set(mixed) <= repair_days, f"days mixed without the rebuilding flag: {sorted(set(mixed) - repair_days)}"
    if not on_mongodb:
        assert mixed == [], f"SQLite left mixed days: {mixed}"
        assert repair_days == set(), repair_days
    elif point in ("facts", "history"):
        assert repair_days == {target}
    else:
        assert repair_days == set()
    # ... and the public health endpoint says so (the admin can see which days await repair).
    health = Client().get("/health/").json()
    assert health["days_rebuilding"] == sorted(d.isoformat() for d in repair_days)
    new_days = [d for d in world.days if after.history_of(d) == new.history_of(d) != old.history_of(d)]
    record.saw(
        f"killed (SIGKILL) at {kill_at[point] if point != 'fetch' else 'a held DocCheque/Get'} after "
        f"{killed.days_done}/30 days; days already new: {len(new_days)}; mixed days: {len(mixed)}; "
        f"flagged rebuilding: {sorted(d.isoformat() for d in repair_days) or 'none'}"
    )

    # The next trigger: the dead process is recognised at once (its heartbeat is still fresh), a new run repairs.
    assert killed.owner.split()[:2] == [socket.gethostname(), str(proc.pid)]
    settings.REGOS_RUN_STALE_AFTER_S = 3600
    assert run_is_stale(SyncRun.objects.get(pk=killed.pk))
    emulator.control("POST", "fault-plan", {"spec": None})
    repaired = services.sync_range(date_from=world.first, date_to=world.last, client=fast_client())
    assert repaired.status == SyncRun.Status.SUCCEEDED, repaired.error
    assert repaired.pk != killed.pk
    killed.refresh_from_db()
    assert killed.status == SyncRun.Status.FAILED and f"pid {proc.pid}" in killed.error, killed.error
    assert "is gone" in killed.error
    assert_state(database_state(), new)
    assert selectors.days_needing_repair() == [] and Client().get("/health/").json()["days_rebuilding"] == []
    record.saw("killed run marked failed at once (its pid is gone, heartbeat still fresh); next run succeeded, "
               "= oracle")


def settings_database_url() -> str:
    """The test database, as fixture ``test_database_url`` exported it for subprocesses."""
    import os

    return os.environ["DATABASE_URL"]

