"""Window replace, idempotent re-runs, and a crash between two days — against the emulator."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from sync import selectors, services
from sync.engine import history, runner
from sync.engine.facts import facts_window_replace
from sync.models import HistoryDay, SalesFact, SyncRun
from tests.sync_data import (
    D1,
    D2,
    D3,
    E_AZIZ,
    E_DILNOZA,
    NAV,
    RULES_FACTS,
    RULES_HISTORY,
    TODAY,
    Z,
    d,
    dump_facts,
    dump_history,
    facts_keys,
    history_table,
    map_cast,
    rules_dataset,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_today")]


@pytest.fixture
def dataset(regos_server, navoiy, gijduvon, aziz, dilnoza, bobur):  # type: ignore[no-untyped-def]
    map_cast(navoiy=navoiy, gijduvon=gijduvon, aziz=aziz, dilnoza=dilnoza, bobur=bobur)
    ds = rules_dataset()
    regos_server(ds)
    return ds


def sync() -> SyncRun:
    return services.sync_range(date_from=D1, date_to=D3)


def test_window_replace_follows_cancellations_and_edits(dataset) -> None:  # type: ignore[no-untyped-def]
    assert sync().status == SyncRun.Status.SUCCEEDED
    dataset.cancel_cheque("c-01")  # D1, Aziz 185000.00
    dataset.perform_cancel_wholesale(5602)  # D1, Aziz 2000000.00
    dataset.set_cheque_amount("c-10", d("31000.00"))  # D2, Dilnoza (was 30000.00)

    run = sync()

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.facts_inserted, run.facts_updated, run.facts_removed) == (0, 1, 2)
    assert facts_keys() == RULES_FACTS - {("cheque", "c-01"), ("wholesale", "5602")}
    assert SalesFact.objects.get(regos_id="c-10").amount == d("31000.00")
    expected = dict(RULES_HISTORY)
    # D1 Navoiy/Aziz: c-06 10000.00 left; return c-03 15000.00 stays → 10000 − 15000 = −5000.00
    expected[(D1, NAV, E_AZIZ)] = (d("10000.00"), d("15000.00"), Z, Z, d("-5000.00"), 1)
    # D2 Navoiy/Dilnoza: 31000.00 − 5000.00
    expected[(D2, NAV, E_DILNOZA)] = (d("31000.00"), d("5000.00"), Z, Z, d("26000.00"), 1)
    assert history_table() == expected
    assert run.history_rows_written == 2


def test_wholesale_delete_mark_and_delete_remove_the_fact(dataset) -> None:  # type: ignore[no-untyped-def]
    sync()
    dataset.perform_cancel_wholesale(5605)  # D2 G'ijduvon, Bobur 1500000.00
    dataset.delete_mark_wholesale(5605)
    dataset.perform_cancel_wholesale_return(7001)  # D2 Navoiy, Aziz −250000.00
    dataset.delete_wholesale_return(7001)
    run = sync()
    assert (run.facts_inserted, run.facts_updated, run.facts_removed) == (0, 0, 2)
    expected = dict(RULES_HISTORY)
    del expected[(D2, "G'ijduvon filiali", "Rahimov Bobur")]
    expected[(D2, NAV, E_AZIZ)] = (d("20000.00"), Z, Z, Z, d("20000.00"), 1)
    assert history_table() == expected


def test_rerun_writes_nothing(dataset) -> None:  # type: ignore[no-untyped-def]
    sync()
    facts, rows = dump_facts(), dump_history()

    again = sync()

    assert again.status == SyncRun.Status.SUCCEEDED
    # values() dumps include updated_at and sync_run: equal dumps prove no row was written.
    assert dump_facts() == facts
    assert dump_history() == rows
    assert (again.facts_inserted, again.facts_updated, again.facts_removed, again.history_rows_written) == (
        0,
        0,
        0,
        0,
    )
    assert again.documents_seen == 15


def test_crash_between_two_days_then_clean_rerun(dataset, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assert sync().status == SyncRun.Status.SUCCEEDED
    dataset.cancel_cheque("c-01")  # D1 Aziz −185000.00
    dataset.cancel_cheque("c-09")  # D2 Aziz −20000.00
    real_flush = runner.day_flush

    def crashing_flush(*, day, rows, run_id, mappings, **kwargs):  # type: ignore[no-untyped-def]
        if day == D2:
            # Die after D2's facts were replaced, before its history: the worst moment.
            history.history_day_mark_rebuilding(day=day)
            facts_window_replace(day=day, rows=rows, run_id=run_id)
            raise RuntimeError("simulated crash")
        return real_flush(day=day, rows=rows, run_id=run_id, mappings=mappings, **kwargs)

    monkeypatch.setattr(runner, "day_flush", crashing_flush)
    crashed = sync()

    assert crashed.status == SyncRun.Status.PARTIAL
    assert "simulated crash" in crashed.error
    assert crashed.days_done == 1
    assert [p["status"] for p in crashed.progress] == ["done", "failed", "pending"]
    table = history_table()
    # D1 is fully new (c-01 gone: 10000 − 15000 + 2000000 = 1995000.00) ...
    assert table[(D1, NAV, E_AZIZ)] == (d("10000.00"), d("15000.00"), d("2000000.00"), Z, d("1995000.00"), 1)
    # ... D2's history is fully old (c-09 still counted), and D2 is flagged for repair.
    assert table[(D2, NAV, E_AZIZ)] == RULES_HISTORY[(D2, NAV, E_AZIZ)]
    assert selectors.days_needing_repair() == [D2]

    monkeypatch.setattr(runner, "day_flush", real_flush)
    repaired = sync()

    assert repaired.status == SyncRun.Status.SUCCEEDED
    expected = dict(RULES_HISTORY)
    expected[(D1, NAV, E_AZIZ)] = (d("10000.00"), d("15000.00"), d("2000000.00"), Z, d("1995000.00"), 1)
    expected[(D2, NAV, E_AZIZ)] = (Z, Z, Z, d("250000.00"), d("-250000.00"), 0)
    assert history_table() == expected
    assert facts_keys() == RULES_FACTS - {("cheque", "c-01"), ("cheque", "c-09")}
    assert selectors.days_needing_repair() == []
    assert set(HistoryDay.objects.values_list("state", flat=True)) == {"clean"}


def test_crash_before_a_day_leaves_it_untouched(dataset, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    sync()
    dataset.cancel_cheque("c-09")
    before_d2 = [r for r in dump_history() if r["date"] == D2]

    def fail_on_d2(*, day, **kwargs):  # type: ignore[no-untyped-def]
        if day == D2:
            raise RuntimeError("worker killed")
        return real(day=day, **kwargs)

    real = runner.day_flush
    monkeypatch.setattr(runner, "day_flush", fail_on_d2)
    run = sync()
    assert run.status == SyncRun.Status.PARTIAL
    assert [r for r in dump_history() if r["date"] == D2] == before_d2
    assert selectors.days_needing_repair() == []  # nothing of D2 was touched


# The rules dataset's history as export_sales CSV lines, written by hand from RULES_HISTORY.
RULES_CSV = {
    "2026-11-10,Navoiy filiali,Toshmatov Aziz,195000.00,15000.00,2000000.00,0.00,2180000.00,2",
    "2026-11-10,Navoiy filiali,Karimova Dilnoza,42000.50,0.00,0.00,0.00,42000.50,1",
    "2026-11-10,Navoiy filiali,Rahimov Bobur,0.00,0.00,1271325.00,0.00,1271325.00,0",
    "2026-11-10,G'ijduvon filiali,,250000.00,0.00,0.00,0.00,250000.00,1",
    "2026-11-11,Navoiy filiali,Toshmatov Aziz,20000.00,0.00,0.00,250000.00,-230000.00,1",
    "2026-11-11,Navoiy filiali,Karimova Dilnoza,30000.00,5000.00,0.00,0.00,25000.00,1",
    "2026-11-11,Navoiy filiali,Rahimov Bobur,12345.67,0.00,0.00,0.00,12345.67,1",
    "2026-11-11,Navoiy filiali,,0.00,0.00,0.00,632500.00,-632500.00,0",
    "2026-11-11,G'ijduvon filiali,Rahimov Bobur,0.00,0.00,1500000.00,0.00,1500000.00,0",
}


def export_csv() -> str:
    out = StringIO()
    call_command(
        "export_sales",
        "--from",
        "2026-11-10",
        "--to",
        "2026-11-12",
        "--format",
        "csv",
        "--output",
        "-",
        stdout=out,
        stderr=StringIO(),
    )
    return out.getvalue()


def test_export_after_sync_is_the_hand_worked_csv_and_a_rerun_keeps_it_byte_identical(dataset) -> None:  # type: ignore[no-untyped-def]
    sync()
    first = export_csv()
    lines = first.splitlines()
    assert lines[0] == (
        "date,branch,employee,retail_sales,retail_returns,wholesale_sales,wholesale_returns,total_sales,cheque_count"
    )
    assert set(lines[1:]) == RULES_CSV and len(lines) == 1 + len(RULES_CSV)

    sync()
    assert export_csv() == first


def _redate_shipment_5602_to_d2(dataset) -> None:  # type: ignore[no-untyped-def]
    from tests.sync_data import at

    with dataset.lock:
        dataset._store("wholesale")[5602]["date"] = int(at(D2, 15).timestamp())  # edited in REGOS
        dataset._version += 1  # the emulator's cached sort order must see the edit


# Shipment 5602 (2,000,000.00, seller Aziz, Navoiy) re-dated from D1 to D2, by hand from RULES_HISTORY:
# D1 Navoiy/Aziz loses it: 195000 − 15000 = 180000.00; D2 Navoiy/Aziz gains it: 20000 + 2000000 − 250000.
MOVED_D1 = (d("195000.00"), d("15000.00"), Z, Z, d("180000.00"), 2)
MOVED_D2 = (d("20000.00"), Z, d("2000000.00"), d("250000.00"), d("1770000.00"), 1)


def test_a_day_losing_a_redated_document_is_rebuilt_and_left_clean(dataset) -> None:  # type: ignore[no-untyped-def]
    assert sync().status == SyncRun.Status.SUCCEEDED
    _redate_shipment_5602_to_d2(dataset)

    run = services.sync_range(date_from=D2, date_to=D3)  # D1 is outside the run

    assert run.status == SyncRun.Status.SUCCEEDED
    table = history_table()
    assert table[(D1, NAV, E_AZIZ)] == MOVED_D1
    assert table[(D2, NAV, E_AZIZ)] == MOVED_D2
    assert selectors.days_needing_repair() == []
    assert set(HistoryDay.objects.values_list("state", flat=True)) == {"clean"}


def test_a_crash_before_the_losing_day_is_rebuilt_leaves_it_flagged(dataset, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assert sync().status == SyncRun.Status.SUCCEEDED
    _redate_shipment_5602_to_d2(dataset)

    def killed(self) -> None:  # type: ignore[no-untyped-def]
        raise SystemExit("process killed after the last day, before the end-of-run rebuild")

    monkeypatch.setattr(runner.RangeSync, "settle", killed)
    with pytest.raises(SystemExit):
        services.sync_range(date_from=D2, date_to=D3)

    table = history_table()
    assert table[(D2, NAV, E_AZIZ)] == MOVED_D2  # written with the shipment...
    assert table[(D1, NAV, E_AZIZ)] == RULES_HISTORY[(D1, NAV, E_AZIZ)]  # ...which D1 still counts,
    assert selectors.days_needing_repair() == [D1]  # so D1 says so instead of double counting silently

    monkeypatch.undo()
    monkeypatch.setattr(history, "today", lambda: TODAY)
    repaired = services.sync_range(date_from=D1, date_to=D1)

    assert repaired.status == SyncRun.Status.SUCCEEDED
    assert history_table()[(D1, NAV, E_AZIZ)] == MOVED_D1
    assert selectors.days_needing_repair() == []


def test_a_day_flagged_by_an_earlier_crash_stays_flagged_after_losing_a_document(dataset) -> None:  # type: ignore[no-untyped-def]
    assert sync().status == SyncRun.Status.SUCCEEDED
    history.history_day_mark_rebuilding(day=D1)  # an earlier crash left D1 half-written
    _redate_shipment_5602_to_d2(dataset)

    assert services.sync_range(date_from=D2, date_to=D3).status == SyncRun.Status.SUCCEEDED

    assert history_table()[(D1, NAV, E_AZIZ)] == MOVED_D1
    assert selectors.days_needing_repair() == [D1]  # only a sync of D1 itself may clear that flag
