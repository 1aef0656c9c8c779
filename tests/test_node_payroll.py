"""The Node.js payroll system's side of the shared MongoDB database, run for real.

``tests/node_payroll`` is a mongoose app written to the payroll system's spec (ObjectId references
under ``branchId``/``employeeId``, money read as Number; `make test` installs it with ``npm ci``).
This module drives its own throw-away MongoDB server (scripts/mongo_server.py) and REGOS emulator, so
it runs the same way in the SQLite and the MongoDB pass: the Node side only exists on MongoDB.

The scenario, in the order a chain would live it:
1. regos-admin is installed (migrate) and lists REGOS stocks and users (regos_discover);
2. the Node side already has a branch and an employee under REGOS's names, plus documents of its own
   regos-admin has never heard of (other fields, Number money, no figures at all);
3. ``regos_discover --create-missing`` adopts the namesakes, ``regos_sync`` pulls two months;
4. the Node side inserts a history document its own way; the next ``regos_sync`` must still succeed;
5. the Node app reads everything back; ``export_sales`` is the reference for the month totals.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from payroll.dates import today
from tests.fixtures.processes import start_group, stop_group

ROOT = Path(__file__).resolve().parent.parent
NODE_PROJECT = ROOT / "tests" / "node_payroll"
KEY = "demo0000regos0000local0000key000"
FIGURES = ("retail_sales", "retail_returns", "wholesale_sales", "wholesale_returns", "total_sales")
CAMEL = {"retail_sales": "retailSales", "retail_returns": "retailReturns", "wholesale_sales": "wholesaleSales",
         "wholesale_returns": "wholesaleReturns", "total_sales": "totalSales"}

pytestmark = pytest.mark.slow


def _ready(log: Path, proc: subprocess.Popen, what: str) -> str:
    """The address a server prints on its READY line, once it prints it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith("READY "):
                return line.split()[1]
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"{what} did not start:\n{log.read_text()}")


def _node_modules() -> None:
    if shutil.which("node") is None:
        pytest.fail("Node.js is missing: `make test` installs Debian's nodejs and npm (make system-deps)")
    if not (NODE_PROJECT / "node_modules" / "mongoose").is_dir():
        result = subprocess.run(  # noqa: S603
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_PROJECT, capture_output=True, text=True,  # noqa: S607
            timeout=600,
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}{result.stderr}"


class Scenario:
    def __init__(self, env: dict[str, str], url: str) -> None:
        self.env = env
        self.url = url

    def manage(self, *args: str) -> str:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}{result.stderr}"
        return result.stdout + result.stderr

    def node(self, *args: str) -> Any:
        result = subprocess.run(  # noqa: S603
            ["node", "payroll.js", self.url, *args], cwd=NODE_PROJECT, capture_output=True, text=True,  # noqa: S607
            timeout=300,
        )
        assert result.returncode == 0, f"node payroll.js {' '.join(args)}:\n{result.stdout}{result.stderr}"
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    _node_modules()
    folder = tmp_path_factory.mktemp("node_payroll")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REGOS_TEST_DB")}
    mongo_log, fake_log = folder / "mongo.log", folder / "fake.log"
    with mongo_log.open("w") as mongo_out, fake_log.open("w") as fake_out:
        mongo = start_group([sys.executable, "scripts/mongo_server.py", "--port", "0"], cwd=ROOT, env=env,
                            log=mongo_out)
        fake = start_group(
            [sys.executable, "manage.py", "regos_fake_server", "--port", "0", "--key", KEY, "--no-rate-limit",
             "--stocks", "2", "--users", "4", "--cheques-per-day", "8", "--wholesale-per-day", "2", "--days", "70"],
            cwd=ROOT, env={**env, "DATABASE_URL": f"sqlite:///{folder / 'unused.sqlite3'}"}, log=fake_out,
        )
        try:
            url = _ready(mongo_log, mongo, "the MongoDB test server").rstrip("/") + "/regos_node"
            base = _ready(fake_log, fake, "the REGOS emulator")
            scenario = Scenario({**env, "DATABASE_URL": url, "REGOS_INTEGRATION_KEY": KEY, "REGOS_BASE_URL": base}, url)
            last = today()
            first = (last.replace(day=1) - timedelta(days=1)).replace(day=1)  # the first of last month
            scenario.manage("migrate", "--noinput")
            scenario.manage("regos_discover")
            owners = scenario.node("seed-owners")
            discovered = scenario.manage("regos_discover", "--create-missing")
            first_sync = scenario.manage("regos_sync", "--from", first.isoformat(), "--to", last.isoformat())
            node_day = last - timedelta(days=1)
            foreign = scenario.node("seed-history", node_day.isoformat(), owners["branchId"])
            next_sync = scenario.manage("regos_sync", "--from", node_day.isoformat(), "--to", last.isoformat())
            report = scenario.node("report")
            export = folder / "export.csv"
            scenario.manage("export_sales", "--from", first.isoformat(), "--to", last.isoformat(),
                            "--output", str(export))
            with export.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            yield {
                "owners": owners, "foreign": foreign, "report": report, "export": rows, "first": first,
                "last": last, "discovered": discovered, "syncs": (first_sync, next_sync), "node_day": node_day,
            }
        finally:
            stop_group(fake)
            stop_group(mongo)


def _export_month_totals(rows: list[dict[str, str]], key: str) -> dict[str, dict[str, dict[str, str]]]:
    """Month → branch (or employee) name → figure → amount, summed from export_sales with Decimal."""
    sums: dict[str, dict[str, dict[str, Decimal]]] = defaultdict(
        lambda: defaultdict(lambda: dict.fromkeys(FIGURES, Decimal("0.00")))
    )
    for row in rows:
        month = row["date"][:7]
        for figure in FIGURES:
            sums[month][row[key]][figure] += Decimal(row[figure])
    return {
        month: {name: {CAMEL[f]: f"{amount:.2f}" for f, amount in figures.items()} for name, figures in names.items()}
        for month, names in sums.items()
    }


def test_the_node_app_follows_every_link(shared: dict[str, Any]) -> None:
    report = shared["report"]
    counts, links = report["counts"], report["links"]
    assert counts["ownHistory"] == len(shared["export"]) > 0  # every exported row, and only those
    assert counts["history"] == counts["ownHistory"] + 1  # plus the Node side's own document
    assert links["missingBranch"] == 0  # populate('branchId') found the branch of every row
    assert links["missingEmployee"] == 0  # and the employee of every attributed row
    assert links["nullGroups"] == 0  # $group by $branchId: no row in a null group
    assert links["historyByBranchQuery"] == counts["ownHistory"]  # find({branchId: branch._id})


@pytest.mark.parametrize("how", ["hydrated", "aggregate", "monthlysales"])
@pytest.mark.parametrize(("group", "column"), [("byBranch", "branch"), ("byEmployee", "employee")])
def test_node_month_totals_equal_export_sales(shared: dict[str, Any], how: str, group: str, column: str) -> None:
    expected = _export_month_totals(shared["export"], column)
    months = {shared["first"].isoformat()[:7], shared["last"].isoformat()[:7]}
    assert set(expected) == months  # the scenario has sales in both months
    assert shared["report"][how][group] == expected


def test_node_created_owners_are_adopted_by_name_and_keep_id_and_fields(shared: dict[str, Any]) -> None:
    owners, raw = shared["owners"], shared["report"]["raw"]
    branches = [b for b in raw["branches"] if b["name"] == owners["branchName"]]
    assert [b["_id"] for b in branches] == [owners["branchId"]]  # adopted, not duplicated
    branch = branches[0]
    assert branch["manager"] == "Dilnoza Karimova"  # a field regos-admin does not know survives
    assert Decimal(branch["totalSales"]["$numberDecimal"]) > 0  # and it got the month's figures
    employees = [e for e in raw["employees"] if e.get("fullName") == owners["employeeName"]]
    assert [e["_id"] for e in employees] == [owners["employeeId"]]
    assert employees[0]["phone"] == "+998901234567"
    assert employees[0]["salary"] == {"base": 3500000}
    assert "linked" in shared["discovered"]
    hq = next(b for b in raw["branches"] if b["_id"] == owners["hqId"])
    assert hq["rent"] == 12000000.5
    assert "totalSales" not in hq  # no REGOS stock feeds it: regos-admin writes nothing there
    clerk = next(e for e in raw["employees"] if e["_id"] == owners["clerkId"])
    assert clerk["position"] == "accountant"
    assert "dailySales" not in clerk
    assert all(len(b["_id"]) == 24 for b in raw["branches"])  # ObjectIds (JSON renders them as hex)


def test_a_node_history_document_survives_the_next_sync_untouched(shared: dict[str, Any]) -> None:
    first_sync, next_sync = shared["syncs"]
    assert "Sync succeeded" in first_sync
    assert "Sync succeeded" in next_sync
    [document] = shared["report"]["raw"]["foreignHistory"]
    assert document["_id"] == shared["foreign"]["historyId"]
    assert document["retailSales"] == 5000000
    assert document["branchId"] == shared["owners"]["branchId"]
    assert document["note"] == "manual correction"
    assert "employeeKey" not in document  # not taken over, not counted (the totals test proves it)


def test_money_reads_as_a_number_hydrated_and_exact_as_decimal128_raw(shared: dict[str, Any]) -> None:
    owners = shared["owners"]
    raw = next(b for b in shared["report"]["raw"]["branches"] if b["_id"] == owners["branchId"])
    hydrated = next(b for b in shared["report"]["hydratedBranches"] if b["_id"] == owners["branchId"])
    exact = Decimal(raw["retailSales"]["$numberDecimal"])
    assert isinstance(hydrated["retailSales"], float | int)
    assert Decimal(str(hydrated["retailSales"])) == exact
    # branches.retailSales is the current month's NET retail: sales − returns of the export's rows.
    month = shared["last"].isoformat()[:7]
    net = sum((Decimal(r["retail_sales"]) - Decimal(r["retail_returns"]) for r in shared["export"]
               if r["branch"] == owners["branchName"] and r["date"].startswith(month)), Decimal("0.00"))
    assert exact == net
    assert raw["totalsMonth"].startswith(f"{month}-01")


def test_the_scenario_covers_two_months(shared: dict[str, Any]) -> None:
    first, last = shared["first"], shared["last"]
    assert isinstance(first, date)
    assert first.day == 1
    assert (first.year, first.month) != (last.year, last.month)
