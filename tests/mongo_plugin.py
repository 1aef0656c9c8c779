"""Choose the test database: ``make test`` runs the whole suite twice,

    REGOS_TEST_DB=sqlite .venv/bin/python -m pytest -p tests.mongo_plugin
    REGOS_TEST_DB=mongo  .venv/bin/python -m pytest -p tests.mongo_plugin

Loaded with ``-p`` so that its ``pytest_load_initial_conftests`` runs before pytest-django reads the
settings. ``mongo``: starts a local MongoDB wire-protocol server (``scripts/mongo_server.py``:
mongoeco, in memory) on a free port of 127.0.0.1 in a subprocess and sets
``DATABASE_URL=mongodb://127.0.0.1:<port>/regos_test``; pytest-django then creates and migrates
the test database ``test_regos_test`` on it; the server stops with the run (or when pytest dies).
With ``REGOS_TEST_MONGODB_URL=mongodb://host:27017/regos_test`` that server is used instead (a real
MongoDB >= 6.0) and nothing is started. ``sqlite``: the default SQLite settings whatever
DATABASE_URL says. Not set: DATABASE_URL decides, the plugin does nothing.

``REGOS_TEST_SUMMARY=<file>`` appends one line of counts per run (``make test`` compares the passes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SWITCH = "REGOS_TEST_DB"
EXTERNAL_URL = "REGOS_TEST_MONGODB_URL"
SUMMARY = "REGOS_TEST_SUMMARY"
DATABASE_NAME = "regos_test"  # pytest-django's test database is then "test_regos_test"
ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "scripts" / "mongo_server.py"
START_TIMEOUT_S = 60.0

_server: MongoEcoProcess | None = None
_header: str = ""
_started = time.monotonic()
_selected = 0


def requested() -> str:
    """"mongo", "sqlite" or "" (not set: whatever DATABASE_URL says)."""
    value = os.environ.get(SWITCH, "").strip().lower()
    if value in ("mongo", "mongodb"):
        return "mongo"
    if value in ("sqlite", "sqlite3"):
        return "sqlite"
    if value:
        raise pytest.UsageError(f"{SWITCH} must be 'sqlite' or 'mongo', not {value!r}")
    return ""


@dataclass
class MongoEcoProcess:
    """``scripts/mongo_server.py`` running in a subprocess; its output goes to ``log``."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.unlink(missing_ok=True)


def start_mongoeco(database: str = DATABASE_NAME) -> MongoEcoProcess:
    """Start a mongoeco wire server on a free port of 127.0.0.1; ``.url`` is its DATABASE_URL."""
    log = tempfile.NamedTemporaryFile(prefix="regos-mongoeco-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, str(LAUNCHER), "--port", "0", "--db", database, "--exit-with-parent"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
    )
    log.close()
    path = Path(log.name)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("READY "):
                return MongoEcoProcess(proc, line.split()[1], path)
        time.sleep(0.05)
    stop_process(proc)
    raise RuntimeError(f"the mongoeco server did not start ({path}):\n" + path.read_text(errors="replace"))


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    global _server, _header
    os.environ.setdefault("ENV_FILE", "")  # never a developer's .env (its real key, its database)
    wanted = requested()
    if wanted == "sqlite":
        if not os.environ.get("DATABASE_URL", "").startswith("sqlite:"):
            os.environ.pop("DATABASE_URL", None)  # the default: SQLite
        return
    if wanted != "mongo":
        return
    if "django.conf" in sys.modules:
        from django.conf import settings

        if settings.configured:
            raise pytest.UsageError("tests.mongo_plugin was loaded after Django's settings: use -p tests.mongo_plugin")
    external = os.environ.get(EXTERNAL_URL, "").strip()
    if external:
        os.environ["DATABASE_URL"] = external
        _header = f"database: MongoDB at {EXTERNAL_URL} (test database test_<name>)"
        return
    _server = start_mongoeco()
    os.environ["DATABASE_URL"] = _server.url
    _header = (
        f"database: MongoDB, mongoeco wire server (in memory) at {_server.url} (pid {_server.proc.pid}); "
        f"test database test_{DATABASE_NAME}"
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [_header] if _header else []


def pytest_sessionstart(session: pytest.Session) -> None:
    global _started
    _started = time.monotonic()


def pytest_collection_finish(session: pytest.Session) -> None:
    global _selected
    _selected = len(session.items)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    """With REGOS_TEST_SUMMARY=<file>, append one line per run (`make test` compares the passes)."""
    path = os.environ.get(SUMMARY)
    if not path:
        return
    from django.conf import settings

    database = "mongodb" if settings.DATABASES["default"]["ENGINE"] == "django_mongodb_backend" else "sqlite"
    counts = " ".join(
        f"{key}={len(terminalreporter.stats.get(key, []))}"
        for key in ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
    )
    seconds = time.monotonic() - _started
    with open(path, "a") as out:
        out.write(f"{database:8} tests={_selected} {counts} exit={exitstatus} seconds={seconds:.0f}\n")


def pytest_unconfigure(config: pytest.Config) -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None
