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


# --- the SQLite fast path the benchmark measures (sync/engine/fastsql.py) writes and compares like the ORM ---


def _rows():  # type: ignore[no-untyped-def]
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from sync.engine.documents import FactRow

    day = date(2026, 9, 15)
    cheque = FactRow(
        source_kind="cheque", regos_id="c-1", code="090001", business_date=day,
        occurred_at=datetime(2026, 9, 14, 19, 7, 54, tzinfo=UTC), stock_id=7, session_uuid="s-1",
        operating_cash_id=701, seller_id=25, cashier_id=5, attached_user_id=None, sale_type="retail",
        is_return=True, amount=Decimal("5000.50"), doc_amount=Decimal("5000.50"), currency="UZS",
        exchange_rate=Decimal("1.000000"), status="Closed",
        last_update=datetime(2026, 9, 14, 19, 8, 1, 250000, tzinfo=UTC),
    )
    shipment = cheque._replace(
        source_kind="wholesale", regos_id="3100007", code="", session_uuid="", operating_cash_id=None, seller_id=None,
        cashier_id=None, attached_user_id=12, sale_type="wholesale", is_return=False,
        amount=Decimal("18987185.42"), doc_amount=Decimal("1500.01"), currency="USD",
        exchange_rate=Decimal("12658.123456"), status="Performed", last_update=None,
    )
    big = cheque._replace(regos_id="c-2", is_return=False, amount=Decimal("847000.00"), doc_amount=Decimal("847000.00"))
    return day, [cheque, shipment, big]


@pytest.mark.django_db
def test_fast_insert_reads_back_through_the_orm_as_the_same_row() -> None:
    if using_mongodb():
        pytest.skip("the fast path is SQLite's")
    import uuid

    from django.utils import timezone

    from sync.engine import fastsql
    from sync.engine.documents import DATA_FIELDS
    from sync.models import SalesFact

    day, rows = _rows()
    fastsql.facts_insert(rows, run_id=None, now=timezone.now())
    stored = {
        (kind, rid): (pk, values)
        for pk, kind, rid, *values in SalesFact.objects.values_list("id", "source_kind", "regos_id", *DATA_FIELDS)
    }
    for row in rows:
        pk, values = stored[row.key]
        assert tuple(values) == row.values()
        assert isinstance(pk, uuid.UUID) and pk.version == 7
    # ... and the raw read compares them as unchanged; one changed column is seen.
    existing = fastsql.facts_of_day(day)
    form = fastsql.comparer(day)
    for row in rows:
        assert existing[row.key][1] == form(row)
    for change in ({"amount": rows[0].amount + 1}, {"last_update": None}, {"stock_id": 8}, {"is_return": False}):
        assert existing[rows[0].key][1] != form(rows[0]._replace(**change))


@pytest.mark.django_db
def test_orm_written_facts_compare_unchanged_on_the_fast_path() -> None:
    if using_mongodb():
        pytest.skip("the fast path is SQLite's")
    from sync.engine import fastsql
    from sync.engine.documents import DATA_FIELDS
    from sync.models import SalesFact

    day, rows = _rows()
    SalesFact.objects.bulk_create(
        SalesFact(source_kind=r.source_kind, regos_id=r.regos_id, **{n: getattr(r, n) for n in DATA_FIELDS})
        for r in rows
    )
    existing = fastsql.facts_of_day(day)
    form = fastsql.comparer(day)
    assert {key: existing[key][1] for key in existing} == {r.key: form(r) for r in rows}
