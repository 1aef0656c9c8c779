"""``manage.py regos_fake_server``: prints one READY line, serves, never prints the key, stops on
SIGTERM; a bad option exits non-zero with one line."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
KEY = "cmdtest0regos0key000000000000001"


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


@pytest.fixture
def fake_server() -> Iterator[tuple[str, subprocess.Popen[str], queue.Queue[str | None]]]:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "regos_fake_server", "--port", "0", "--key", KEY, "--days", "2",
         "--cheques-per-day", "40", "--end-day", "2026-08-04", "--page-cap", "25"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    try:
        ready = lines.get(timeout=60)
        assert ready is not None, process.stderr.read() if process.stderr else ""
        yield ready, process, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_ready_line_serving_and_sigterm(fake_server):
    ready, process, lines = fake_server
    match = re.fullmatch(r"READY (http://127\.0\.0\.1:(\d+)/gateway/out)\n", ready)
    assert match and int(match.group(2)) > 0
    base = match.group(1)
    http = requests.Session()
    http.trust_env = False

    stocks = http.post(f"{base}/{KEY}/v1/Stock/Get", json={}).json()
    assert stocks["ok"] and stocks["total"] == 5
    page = http.post(f"{base}/{KEY}/v1/DocCheque/Get",
                     json={"start_date": 1785697200, "end_date": 1785783599}).json()
    assert page["ok"] and len(page["result"]) == 25 and page["total"] == 40  # 2026-08-04, page cap 25
    assert http.post(f"{base}/{'x' * 32}/v1/Stock/Get", json={}).json()["result"]["error"] == 1096
    stats = http.get(base.replace("/gateway/out", "/_emulator/stats")).json()
    assert stats["rate_limit"] == {"rate": 2.0, "burst": 50}  # REGOS's real limits by default
    assert (stats["page_cap"], stats["next_offset"]) == (25, "rows")
    assert stats["by_method"] == {"Stock/Get": 2, "DocCheque/Get": 1}

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    rest = []
    while (line := lines.get(timeout=10)) is not None:
        rest.append(line)
    assert rest == []  # exactly one line on stdout
    stderr = process.stderr.read() if process.stderr else ""
    assert KEY not in ready and KEY not in stderr
    with pytest.raises(requests.ConnectionError):
        http.post(f"{base}/{KEY}/v1/Stock/Get", json={}, timeout=5)


@pytest.mark.parametrize(("args", "needle"), [
    (["--fault-plan", "3:explode"], "fault plan"),
    (["--days", "0"], "--days"),
    (["--webhook-url", "ftp://example.invalid/"], "webhook"),
    (["--next-offset", "offset"], "--next-offset"),
])
def test_bad_options_exit_non_zero_with_one_line(args, needle):
    done = subprocess.run(
        [sys.executable, "manage.py", "regos_fake_server", "--port", "0", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    error_lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1 and needle in error_lines[0]


def test_rate_limit_flags(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "manage.py", "regos_fake_server", "--port", "0", "--key", KEY, "--days", "1",
         "--cheques-per-day", "5", "--rate", "0.001", "--burst", "3"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        base = process.stdout.readline().split()[1]
        http = requests.Session()
        http.trust_env = False
        answers = [http.post(f"{base}/{KEY}/v1/Stock/Get", json={}).json() for _ in range(5)]
        assert [a["ok"] for a in answers] == [True, True, True, False, False]
        assert answers[3]["result"]["error"] == 8213
        stats = json.loads(http.get(base.replace("/gateway/out", "/_emulator/stats")).text)
        assert stats["rate_limited"] == 2
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("source", ["REGOS_EMULATOR_KEY", "REGOS_INTEGRATION_KEY"])
def test_the_key_can_come_from_the_environment_not_the_command_line(source):
    """Issue 15: only --key (visible in `ps`) could change the accepted key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGOS_")}
    env[source] = KEY
    process = subprocess.Popen(
        [sys.executable, "manage.py", "regos_fake_server", "--port", "0", "--days", "1", "--cheques-per-day", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=env,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        base = re.fullmatch(r"READY (\S+)\n", ready)
        assert base, ready + (process.stderr.read() if process.stderr else "")
        assert KEY not in " ".join(process.args)  # type: ignore[arg-type]
        http = requests.Session()
        http.trust_env = False
        assert http.post(f"{base.group(1)}/{KEY}/v1/Stock/Get", json={}).json()["ok"] is True
        refused = http.post(f"{base.group(1)}/demo0000regos0000local0000key000/v1/Stock/Get", json={}).json()
        assert refused["ok"] is False
    finally:
        process.kill()
        process.wait(timeout=10)
