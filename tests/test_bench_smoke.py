"""``make bench`` at a tiny size: it runs end to end and reports what it should (no timing claims).

The bench starts its own emulator process and its own migrated temporary SQLite files, so this test
needs no test database; it runs once per suite (the MongoDB pass skips it: same code, same files).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.database import using_mongodb

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    if using_mongodb():
        pytest.skip("the bench uses its own SQLite files: the SQLite pass already ran it")
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--quiet", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def test_reports_the_machine(smoke: tuple[dict, str]) -> None:
    results, _ = smoke
    machine = results["machine"]
    assert machine["cpus"] >= 1
    assert machine["python"].startswith("3.")
    assert machine["django"].startswith("5.2")
    assert len(machine["loadavg_start"]) == 3 and len(machine["loadavg_end"]) == 3


def test_sync_processes_exactly_the_emulators_documents(smoke: tuple[dict, str]) -> None:
    results, _ = smoke
    case = results["throughput"]["tiny"]
    counts = case["counts"]
    expected = counts["closed_cheques"] + counts["wholesale"] + counts["wholesale_returns"]
    assert expected > 0
    assert case["expected_documents"] == expected
    first = case["first"]
    assert first["status"] == "succeeded", first["error"]
    assert first["documents"] == expected
    assert first["facts"] == expected
    assert first["history_rows"] > 0
    assert first["wall_s"] > 0 and first["peak_rss_mb"] > 0
    assert case["docs_per_s"] > 0


def test_request_ratio_against_the_computed_minimum(smoke: tuple[dict, str]) -> None:
    results, _ = smoke
    case = results["throughput"]["tiny"]
    minimum = case["minimum"]
    cap = case["data"]["page_cap"]
    counts = case["counts"]
    # The minimum is derived from the emulator's counts and the page cap, one term per method.
    assert minimum["by_method"]["DocCheque/Get"] >= -(-counts["closed_cheques"] // cap)
    assert minimum["by_method"]["DocCashSession/Get"] == max(1, -(-counts["sessions"] // cap))
    assert minimum["by_method"]["OperatingCash/Get"] == 1
    assert minimum["total"] == sum(minimum["by_method"].values())
    made = case["first"]["server"]["total"]
    assert made == case["first"]["client_requests"]  # the client and the emulator agree
    assert case["request_ratio"] == pytest.approx(made / minimum["total"])
    assert case["request_ratio"] >= 1.0  # nobody beats the minimum
    assert case["first"]["server"]["rate_limited"] == 0


def test_resync_writes_nothing(smoke: tuple[dict, str]) -> None:
    results, _ = smoke
    resync = results["throughput"]["tiny"]["resync"]
    assert resync["status"] == "succeeded"
    assert resync["facts_inserted"] == resync["facts_updated"] == resync["facts_removed"] == 0
    assert resync["history_rows_written"] == 0


def test_naive_baseline_same_documents_more_requests(smoke: tuple[dict, str]) -> None:
    results, _ = smoke
    case = results["throughput"]["tiny"]
    naive = case["naive"]
    assert naive["documents"] == case["expected_documents"]
    assert naive["facts"] == case["first"]["facts"]
    assert naive["history_rows"] == case["first"]["history_rows"]
    # One ChequeItemOperation/Get per closed cheque.
    assert naive["server"]["by_method"]["ChequeItemOperation/Get"] == case["counts"]["closed_cheques"]
    assert results["summary"]["naive"]["request_speedup"] > 1


def test_panel_pages_answer(smoke: tuple[dict, str]) -> None:
    results, _ = smoke
    panel = results["throughput"]["tiny"]["panel"]
    for name in ("history", "history_filtered", "summary", "export_csv"):
        assert panel[name]["p50_ms"] > 0
        assert panel[name]["p95_ms"] >= panel[name]["p50_ms"]
    assert panel["export_csv"]["lines"] >= panel["history_rows"] + 1  # a header, a line per row


def test_prints_one_table(smoke: tuple[dict, str]) -> None:
    results, stdout = smoke
    assert results["table"] in stdout
    for label in ("1 requests", "3 throughput", "4 re-sync", "5 naive", "6 panel"):
        assert label in results["table"]
