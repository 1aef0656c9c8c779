"""Helpers of the reliability suite: the recorder's storage, bounded waits, child processes, the
REGOS emulator in its own process, a small mapped REGOS world and the fast-retry client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tests.reliability.oracle import Mapping, State, expected_state, first_difference, tashkent_day

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "tests" / "artifacts" / "reliability.json"

ROWS: list[dict[str, Any]] = []
EXTRAS: dict[str, Any] = {}


@dataclass
class Record:
    """One row of the reliability table: what was tried, what was expected, what was observed."""

    nodeid: str
    area: str = ""
    case: str = ""
    expected: str = ""
    observed: list[str] = field(default_factory=list)
    # Counted figures for the README's security figures table (scripts/reliability_report.py,
    # FIGURES): e.g. {"inputs": 1864, "5xx": 0, "wrong writes": 0, "key chars leaked": 0}.
    figures: dict[str, int] = field(default_factory=dict)

    def __call__(self, area: str, case: str, expected: str) -> Record:
        self.area, self.case, self.expected = area, case, expected
        return self

    def saw(self, text: object) -> None:
        self.observed.append(" ".join(str(text).split()))

    def count(self, **figures: int) -> None:
        """Add to this row's figures; keyword names use ``_`` for spaces (``key_chars_leaked``)."""
        for name, value in figures.items():
            label = name.replace("_", " ")
            self.figures[label] = self.figures.get(label, 0) + value


def record_extra(name: str, value: Any) -> None:
    """Session-level figures for the report (e.g. the load test's latency percentiles)."""
    EXTRAS[name] = value


# --- bounded waiting and processes ----------------------------------------------------------------


def wait_until(predicate: Callable[[], object], *, timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll ``predicate`` until it is truthy; a deadline, not a measurement."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without regos-admin settings (DATABASE_URL kept), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REGOS_", "REDIS_"))}
    env.pop("REGOS_TEST_DB", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def stop_process(proc: subprocess.Popen, *, sig: int = signal.SIGTERM, wait: float = 30) -> None:
    """Stop a process this suite started, by its own PID."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class EmulatorProcess:
    """``manage.py regos_fake_server`` in its own process (control endpoints at ``root``)."""

    proc: subprocess.Popen
    base_url: str
    log: Path

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/gateway/out")

    def control(self, verb: str, name: str, payload: dict | None = None) -> dict:
        import requests

        session = requests.Session()
        session.trust_env = False
        response = session.request(verb, f"{self.root}/_emulator/{name}", json=payload, timeout=30)
        response.raise_for_status()
        return response.json()


def start_emulator(tmp_path: Path, *, key: str, args: list[str]) -> EmulatorProcess:
    log = tmp_path / f"emulator-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "regos_fake_server", "--port", "0", "--key", key, *args],
            cwd=ROOT, env=child_env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    def ready() -> str | None:
        assert proc.poll() is None, log.read_text()
        for line in log.read_text().splitlines():
            if line.startswith("READY "):
                return line.split()[1]
        return None

    try:
        url = wait_until(ready, timeout=60, what="the emulator's READY line")
    except BaseException:
        stop_process(proc)
        raise
    return EmulatorProcess(proc, url, log)


# --- a small generated REGOS world, mapped ---------------------------------------------------------


@dataclass
class World:
    """A generated dataset, the branches/employees/mappings of its stocks and users (all but one of
    each, so "unmapped stock" and "unassigned" are exercised), and the range the tests sync."""

    ds: Any
    first: date
    last: date
    mapping: Mapping
    params: dict[str, Any]

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def oracle(self, first: date | None = None, last: date | None = None) -> State:
        """The oracle after a clean sync of first..last (default: the world's range)."""
        from payroll.dates import today

        return expected_state(
            self.ds, first or self.first, last or self.last, self.mapping, today=today(),
            branches=self.mapping.branches.values(), employees=self.mapping.employees.values(),
        )

    def emulator_args(self) -> list[str]:
        p = self.params
        return [
            "--seed", str(p["seed"]), "--stocks", str(p["stocks"]), "--cashes-per-stock",
            str(p["cashes_per_stock"]), "--users", str(p["users"]), "--days", str(p["days"]),
            "--end-day", p["end_day"].isoformat(), "--cheques-per-day", str(p["cheques_per_day"]),
            "--wholesale-per-day", str(p["wholesale_per_day"]), "--no-rate-limit",
        ]

    # Mutations that make the next sync differ from the last one on several days ("old" vs "new").
    def changes(self) -> list[tuple[str, dict[str, Any]]]:
        """(op, args) that cancel, re-price and perform-cancel documents on different days."""
        from sync.regos.emulator.dataset import CHEQUE, WHOLESALE

        closed = [d for d in self.ds.iter_docs(CHEQUE, self.first, self.last) if d["status"] == "Closed"]
        by_day: dict[date, list[dict]] = {}
        for doc in closed:
            by_day.setdefault(tashkent_day(doc["date"]), []).append(doc)
        ops: list[tuple[str, dict[str, Any]]] = []
        days = sorted(by_day)
        if days:
            ops.append(("cancel_cheque", {"uuid": by_day[days[0]][0]["uuid"]}))
        if len(days) > 1:
            doc = by_day[days[1]][-1]
            ops.append(("set_cheque_amount", {"uuid": doc["uuid"], "amount": str(doc["amount"] + 1234)}))
        shipped = [d for d in self.ds.iter_docs(WHOLESALE, self.first, self.last)
                   if d["performed"] and not d["deleted_mark"]]
        if shipped:
            ops.append(("perform_cancel_wholesale", {"id": shipped[len(shipped) // 2]["id"]}))
        if len(days) > 2:
            doc = by_day[days[-1]][0]
            ops.append(("set_cheque_amount", {"uuid": doc["uuid"], "amount": str(doc["amount"] + 5000)}))
        return ops

    def apply(self, ops: list[tuple[str, dict[str, Any]]]) -> None:
        for op, args in ops:
            self.ds.mutate(op, **args)


def make_world(*, seed: int = 11, days_back: int = 1, range_days: int = 4, cheques_per_day: int = 12,
               dataset_days: int | None = None, stocks: int = 3, users: int = 6,
               wholesale_per_day: int = 2) -> World:
    """The dataset (ending ``days_back`` days before today in Tashkent), branches, employees, mappings."""
    from payroll.dates import today
    from payroll.models import Branch, Employee
    from sync.models import SellerMapping, StockMapping
    from sync.regos.emulator import generate_dataset

    last = today() - timedelta(days=days_back)
    first = last - timedelta(days=range_days - 1)
    params = {
        "seed": seed, "stocks": stocks, "cashes_per_stock": 1, "users": users,
        "days": dataset_days or range_days + 2, "end_day": last, "cheques_per_day": cheques_per_day,
        "wholesale_per_day": wholesale_per_day,
    }
    ds = generate_dataset(
        seed=seed, stocks=stocks, cashes_per_stock=1, users=users, days=params["days"],
        cheques_per_day=cheques_per_day, end_day=last, wholesale_per_day=wholesale_per_day,
    )
    branches: dict[int, str] = {}
    for stock_id in ds.stock_ids[:-1]:  # the last stock stays unmapped
        name = ds._stocks[stock_id]["name"]
        branch = Branch.objects.create(name=name, code=f"S{stock_id}")
        StockMapping.objects.create(regos_stock_id=stock_id, regos_name=name, branch=branch)
        branches[stock_id] = name
    employees: dict[int, str] = {}
    for user_id in ds.user_ids[:-1]:  # the last user stays unassigned
        name = ds._users[user_id]["full_name"]
        employee = Employee.objects.create(full_name=name)
        SellerMapping.objects.create(regos_user_id=user_id, full_name=name, employee=employee)
        employees[user_id] = name
    return World(ds=ds, first=first, last=last, mapping=Mapping(branches, employees), params=params)


def fast_client(**overrides: Any):  # type: ignore[no-untyped-def]
    """The production client from settings, with test-sized backoff (the retry logic is unchanged:
    the same budgets, only shorter waits, so a persistent fault fails in seconds, not minutes)."""
    from sync.regos.client import RegosClient

    options: dict[str, Any] = {
        "backoff_base_s": 0.02, "backoff_max_s": 0.1, "rate_limit_backoff_max_s": 0.1,
    }
    options.update(overrides)
    return RegosClient.from_settings(**options)


def assert_state(actual: State, expected: State, *, totals: bool = True) -> None:
    assert actual.facts == expected.facts, "facts differ: " + first_difference(actual.facts, expected.facts)
    assert actual.history == expected.history, "history differs: " + first_difference(
        actual.history, expected.history
    )
    if totals:
        assert actual.branch_totals == expected.branch_totals, (actual.branch_totals, expected.branch_totals)
        assert actual.employee_totals == expected.employee_totals, (
            actual.employee_totals, expected.employee_totals,
        )
