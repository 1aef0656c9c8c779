"""manage.py regos_sync: progress lines, summary, exit codes and one-line failures (never the key)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from payroll.dates import today
from sync.models import SyncRun
from sync.regos.emulator import Dataset
from tests.sync_data import map_cast, rules_dataset

ROOT = Path(__file__).resolve().parent.parent
WRONG_KEY = "wrongkey7777wrongkey7777wrongkey"


def regos_sync(*args: str) -> str:
    out = StringIO()
    call_command("regos_sync", *args, stdout=out)
    return out.getvalue()


pytestmark = pytest.mark.usefixtures("pinned_today")


@pytest.mark.django_db
def test_prints_a_line_per_day_and_a_summary(regos_server, navoiy, gijduvon, aziz, dilnoza, bobur) -> None:  # type: ignore[no-untyped-def]
    map_cast(navoiy=navoiy, gijduvon=gijduvon, aziz=aziz, dilnoza=dilnoza, bobur=bobur)
    regos_server(rules_dataset())

    lines = regos_sync("--from", "2026-11-10", "--to", "2026-11-12").splitlines()

    run = SyncRun.objects.get()
    # Per day, worked out from tests/sync_data.py: D1 has 6 closed cheques (c-01 02 03 06 07 08) and
    # shipments 5601, 5602; D2 4 cheques (c-09..c-12), shipment 5605 and returns 7001, 7002; D3 nothing.
    # Requests: one page each of cheques, shipments, returns and the shift listing, s-old by uuid, registers.
    assert lines == [
        "2026-11-10  cheques 6  wholesale 2  facts +8 ~0 -0  history rows 4",
        "2026-11-11  cheques 4  wholesale 3  facts +7 ~0 -0  history rows 5",
        "2026-11-12  cheques 0  wholesale 0  facts +0 ~0 -0  history rows 0",
        "Sync succeeded: 2026-11-10..2026-11-12: 3/3 days, 15 documents, facts +15 ~0 -0, "
        f"history rows written 9, REGOS requests 6 (rate-limit waits 0); run {run.id}",
    ]
    assert (run.trigger, run.status) == ("command", "succeeded")

    # The same again: REGOS answers as before, so no day is read or written. Requests: the three
    # listings (one page each) and the registers, read once by every run.
    again = regos_sync("--from", "2026-11-10", "--to", "2026-11-12").splitlines()
    assert again[0] == "2026-11-10  cheques 6  wholesale 2  unchanged since it was written"
    assert "facts +0 ~0 -0, history rows written 0, REGOS requests 4 " in again[-1]


@pytest.mark.django_db
def test_default_range_is_the_lookback_window(regos_server, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REGOS_LOOKBACK_DAYS = 3
    regos_server(Dataset())
    lines = regos_sync().splitlines()
    last = today()
    assert [line.split()[0] for line in lines[:-1]] == [
        str(last - timedelta(days=2)),
        str(last - timedelta(days=1)),
        str(last),
    ]
    assert lines[-1].startswith(f"Sync succeeded: {last - timedelta(days=2)}..{last}: 3/3 days, 0 documents")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-13-01"], "Invalid --from date '2026-13-01': expected YYYY-MM-DD."),
        (
            ["--from", "2026-11-01", "--to", "yesterday"],
            "Invalid --to date 'yesterday': expected YYYY-MM-DD.",
        ),
        (
            ["--from", "2026-11-05", "--to", "2026-11-01"],
            "The end date 2026-11-01 is before the start date 2026-11-05.",
        ),
    ],
)
def test_bad_arguments_fail_with_one_line(args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as caught:
        regos_sync(*args)
    assert str(caught.value) == message
    assert SyncRun.objects.count() == 0


@pytest.mark.django_db
def test_too_long_range_states_the_limit(settings) -> None:  # type: ignore[no-untyped-def]
    settings.REGOS_SYNC_MAX_DAYS = 10
    with pytest.raises(CommandError, match=r"has 11 days; at most 10 days can be synced at once"):
        regos_sync("--from", "2026-11-01", "--to", "2026-11-11")


@pytest.mark.django_db
def test_rejected_key_fails_with_one_line_and_the_hint(regos_server, settings) -> None:  # type: ignore[no-untyped-def]
    regos_server(rules_dataset())
    settings.REGOS_INTEGRATION_KEY = WRONG_KEY
    with pytest.raises(CommandError) as caught:
        regos_sync("--from", "2026-11-10", "--to", "2026-11-12")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Sync failed (")
    assert "REGOS key rejected: check REGOS_INTEGRATION_KEY" in message
    assert WRONG_KEY not in message
    run = SyncRun.objects.get()
    assert run.status == "failed" and WRONG_KEY not in run.error + run.error_hint


def _manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.django_db(transaction=True)
def test_real_process_exit_codes_and_stderr(regos_server) -> None:  # type: ignore[no-untyped-def]
    bad = _manage("regos_sync", "--from", "2026-11-40")
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == ["CommandError: Invalid --from date '2026-11-40': expected YYYY-MM-DD."]

    reversed_range = _manage("regos_sync", "--from", "2026-11-05", "--to", "2026-11-01")
    assert reversed_range.returncode == 1
    assert reversed_range.stderr.splitlines() == [
        "CommandError: The end date 2026-11-01 is before the start date 2026-11-05."
    ]

    regos_server(rules_dataset())
    wrong = _manage(
        "regos_sync",
        "--from",
        "2026-11-10",
        "--to",
        "2026-11-12",
        env={"REGOS_BASE_URL": settings.REGOS_BASE_URL, "REGOS_INTEGRATION_KEY": WRONG_KEY},
    )
    assert wrong.returncode == 1
    lines = wrong.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("CommandError: Sync failed ("), wrong.stderr
    assert "REGOS key rejected" in lines[0]
    assert WRONG_KEY not in wrong.stdout + wrong.stderr
    assert "Traceback" not in wrong.stderr


@pytest.mark.django_db
def test_rate_limit_that_never_ends_fails_with_the_retry_count(regos_server) -> None:  # type: ignore[no-untyped-def]
    # Every request answered HTTP 429 "Retry-After: 0": the client retries fast, then gives up.
    regos_server(rules_dataset(), fault_plan="*:http429-retry-after=0")
    with pytest.raises(CommandError) as caught:
        regos_sync("--from", "2026-11-10", "--to", "2026-11-12")
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(r"REGOS rate limit: retried \d+ times\.", message), message
    run = SyncRun.objects.get()
    assert run.status == "failed" and run.rate_limit_waits > 0
