"""The REGOS emulator in its own process (``manage.py regos_fake_server``) and its control endpoints."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

from bench.cases import DataSet

ROOT = Path(__file__).resolve().parent.parent
DEMO_KEY = "demo0000regos0000local0000key000"
START_TIMEOUT_S = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Emulator:
    """``with Emulator(data) as emu:`` starts the server, ``emu.base_url`` points the sync at it."""

    def __init__(self, data: DataSet, *, env: dict[str, str] | None = None) -> None:
        self.data = data
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.root_url = ""

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        cmd = [sys.executable, str(ROOT / "manage.py"), "regos_fake_server", "--port", "0",
               *self.data.server_args()]
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"the emulator exited with {self.proc.returncode}: {err.strip()[-500:]}")
            if sel.select(timeout=0.5):
                line = self.proc.stdout.readline()
                if line.startswith("READY "):
                    self.base_url = line.split()[1].rstrip("/")
                    self.root_url = self.base_url.removesuffix("/gateway/out")
                    return
        self.stop()
        raise RuntimeError("the emulator did not print READY in time")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_s(self) -> float:
        return process_cpu_s(self.pid)

    # --- control endpoints ---
    def _call(self, verb: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 — 127.0.0.1 only
            f"{self.root_url}/_emulator/{path}", data=data, method=verb,
            headers={"Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=120) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        stats = self._call("GET", "stats")
        stats.pop("timestamps", None)
        return stats

    def stats_with_timestamps(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def reset_stats(self) -> None:
        self._call("POST", "reset-stats", {})

    def counts(self, first: date, last: date) -> dict[str, int]:
        answer = self._call("GET", f"counts?first={first.isoformat()}&last={last.isoformat()}")
        return {k: v for k, v in answer.items() if k != "ok"}

    def set_rate_limit(self, rate: float | None, burst: int | None) -> None:
        self._call("POST", "rate-limit", {"rate": rate, "burst": burst})
