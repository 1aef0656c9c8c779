"""Fixtures of the reliability suite, and the recorder behind the README's "Reliability" table.

Every test of this package takes the ``record`` fixture and says what it tried (``area``, ``case``,
``expected``) and what it saw (``record.saw(...)``). After the test its pytest outcome is added, and at
the end of the session the rows are merged into ``tests/artifacts/reliability.json`` under the
database of the pass (``sqlite`` / ``mongodb``). ``scripts/reliability_report.py`` renders that file
into README.md. Rows are only ever what a test observed — nothing in the table is typed by hand.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.support import (
    ARTIFACT,
    EXTRAS,
    ROOT,
    ROWS,
    EmulatorProcess,
    Record,
    World,
    make_world,
    start_emulator,
    stop_process,
)

_started = time.time()  # wall clock of the pass
_ran_modules: set[str] = set()
_partial_modules: set[str] = set()


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_deselected(items: list[pytest.Item]) -> None:
    _partial_modules.update(_module(item.nodeid) for item in items)


def pytest_collection_finish(session: pytest.Session) -> None:
    _ran_modules.update(_module(item.nodeid) for item in session.items)
    if any("::" in str(arg) for arg in session.config.args):  # single tests named: nothing is complete
        _partial_modules.update(_ran_modules)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def backend_name() -> str:
    from tests.fixtures.database import using_mongodb

    return "mongodb" if using_mongodb() else "sqlite"


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[Record]:
    row = Record(nodeid=request.node.nodeid)
    yield row
    if not row.case:
        return
    call = getattr(request.node, "rep_call", None)
    result = call.outcome if call is not None else "error"
    ROWS.append({
        "nodeid": row.nodeid, "order": len(ROWS), "area": row.area, "case": row.case,
        "expected": row.expected, "observed": "; ".join(row.observed), "result": result,
        **({"figures": row.figures} if row.figures else {}),
    })


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not ROWS and not EXTRAS:
        return
    try:
        backend = backend_name()
    except Exception:  # noqa: BLE001 — Django never configured: nothing ran
        return
    data: dict[str, Any] = {}
    if ARTIFACT.exists():
        try:
            data = json.loads(ARTIFACT.read_text())
        except ValueError:
            data = {}
    section = data.setdefault("backends", {}).setdefault(backend, {})
    # Keep earlier rows only for modules this session did not run completely (and that still exist):
    # a renamed or removed test leaves no stale row behind.
    complete = _ran_modules - _partial_modules
    rows = {
        row["nodeid"]: row for row in section.get("rows", [])
        if _module(row["nodeid"]) not in complete and (ROOT / _module(row["nodeid"])).exists()
    }
    rows.update({row["nodeid"]: row for row in ROWS})
    section["rows"] = sorted(rows.values(), key=lambda r: r["nodeid"])
    section.setdefault("extras", {}).update(EXTRAS)
    section["last_session"] = {
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "tests": len(ROWS),
        "passed": sum(r["result"] == "passed" for r in ROWS),
        "duration_s": round(time.time() - _started, 1),
    }
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[Callable[..., EmulatorProcess]]:
    """Start ``manage.py regos_fake_server`` processes; each is stopped (by its PID) at teardown."""
    started: list[EmulatorProcess] = []

    def start(*, key: str, args: list[str]) -> EmulatorProcess:
        emulator = start_emulator(tmp_path, key=key, args=args)
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        stop_process(emulator.proc)


@pytest.fixture
def world(db) -> World:  # type: ignore[no-untyped-def]
    return make_world()
