"""Each counting rule of issue 4, over real HTTP against the REGOS emulator, with hand-worked tables."""

from __future__ import annotations

import pytest

from payroll.models import Branch, DailySalesHistory, Employee
from sync import selectors, services
from sync.models import HistoryDay, MappingAudit, SalesFact, SellerMapping, StockMapping, SyncRun
from tests.sync_data import (
    D1,
    D2,
    D3,
    E_AZIZ,
    E_BOBUR,
    E_DILNOZA,
    E_NODIRA,
    GIJ,
    NAV,
    NEW,
    NODIRA,
    RULES_FACTS,
    RULES_HISTORY,
    TODAY,
    YANGI,
    Z,
    d,
    facts_keys,
    history_table,
    rules_dataset,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_today")]


@pytest.fixture
def server(regos_server, cast):  # type: ignore[no-untyped-def]
    ds = rules_dataset()
    return regos_server(ds)


def sync(first=D1, last=D3) -> SyncRun:  # type: ignore[no-untyped-def]
    run = services.sync_range(date_from=first, date_to=last)
    assert run.status == SyncRun.Status.SUCCEEDED, (run.error, run.error_hint)
    return run


def test_rules_dataset_gives_the_hand_worked_table(server) -> None:  # type: ignore[no-untyped-def]
    run = sync()
    assert history_table() == RULES_HISTORY
    assert facts_keys() == RULES_FACTS
    assert (run.documents_seen, run.facts_inserted, run.facts_updated, run.facts_removed) == (15, 15, 0, 0)
    assert run.history_rows_written == 9 and run.days_done == run.days_total == 3
    assert [(p["date"], p["status"], p["documents"]) for p in run.progress] == [
        ("2026-11-10", "done", 8),
        ("2026-11-11", "done", 7),
        ("2026-11-12", "done", 0),
    ]
    # Every synced day, including the empty D3, is clean.
    assert set(HistoryDay.objects.values_list("date", "state")) == {
        (D1, "clean"),
        (D2, "clean"),
        (D3, "clean"),
    }


def test_tashkent_midnight_cuts_the_day(server) -> None:  # type: ignore[no-untyped-def]
    sync()
    days = dict(
        SalesFact.objects.filter(regos_id__in=["c-06", "c-09"]).values_list("regos_id", "business_date")
    )
    # c-06 at 23:59:59 local on D1 (18:59:59 UTC), c-09 at 00:00:00 local on D2 (19:00:00 UTC on D1!)
    assert days == {"c-06": D1, "c-09": D2}


def test_canceled_open_unperformed_and_delete_marked_documents_are_not_counted(server) -> None:  # type: ignore[no-untyped-def]
    sync()
    excluded = {
        ("cheque", "c-04"),
        ("cheque", "c-05"),
        ("wholesale", "5603"),
        ("wholesale", "5604"),
        ("wholesale_return", "7003"),
    }
    assert not facts_keys() & excluded


def test_usd_wholesale_uses_the_documents_rate(server) -> None:  # type: ignore[no-untyped-def]
    sync()
    rows = {
        r["regos_id"]: (r["amount"], r["doc_amount"], r["currency"], r["exchange_rate"], r["is_return"])
        for r in SalesFact.objects.filter(regos_id__in=["5601", "7002"]).values(
            "regos_id", "amount", "doc_amount", "currency", "exchange_rate", "is_return"
        )
    }
    # 100.50 × 12650.00 = 1 271 325.00 and 50.00 × 12650.00 = 632 500.00 (not the currency's 12800.00)
    assert rows == {
        "5601": (d("1271325.00"), d("100.50"), "USD", d("12650.00"), False),
        "7002": (d("632500.00"), d("50.00"), "USD", d("12650.00"), True),
    }


def test_seller_only_attribution_leaves_sellerless_sales_unassigned(server, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REGOS_ATTRIBUTION = "seller"
    sync()
    assert history_table() == {
        (D1, NAV, E_AZIZ): (d("195000.00"), d("15000.00"), d("2000000.00"), Z, d("2180000.00"), 2),
        # c-02 42000.50 (no seller) + 5601 1271325.00 (no seller) = 1313325.50
        (D1, NAV, ""): (d("42000.50"), Z, d("1271325.00"), Z, d("1313325.50"), 1),
        (D1, GIJ, ""): (d("250000.00"), Z, Z, Z, d("250000.00"), 1),
        (D2, NAV, E_AZIZ): (d("20000.00"), Z, Z, d("250000.00"), d("-230000.00"), 1),
        # c-10 30000.00 + c-11 12345.67 − c-12 5000.00 − 7002 632500.00 (returns → attached Nodira, unmapped)
        (D2, NAV, ""): (d("42345.67"), d("5000.00"), Z, d("632500.00"), d("-595154.33"), 2),
        (D2, GIJ, E_BOBUR): (Z, Z, d("1500000.00"), Z, d("1500000.00"), 0),
    }


def test_unmapped_stock_is_kept_and_enters_history_when_mapped_without_regos_calls(server, aziz) -> None:  # type: ignore[no-untyped-def]
    sync()
    assert ("cheque", "c-08") in facts_keys()
    assert not any(branch == NEW for _, branch, _ in history_table())
    unmapped = selectors.unmapped_stocks()
    assert [(u.regos_stock_id, u.regos_name, u.facts, u.amount) for u in unmapped] == [
        (YANGI, "Yangi do'kon", 1, d("500000.00"))
    ]

    requests_before = server.stats.total
    yangi = Branch.objects.create(name=NEW)
    changed = services.stock_mapping_set(regos_stock_id=YANGI, branch=yangi)

    assert server.stats.total == requests_before  # re-aggregation from facts only
    assert changed == 1
    expected = dict(RULES_HISTORY)
    expected[(D1, NEW, E_AZIZ)] = (d("500000.00"), Z, Z, Z, d("500000.00"), 1)  # c-08, seller Aziz
    assert history_table() == expected
    assert selectors.unmapped_stocks() == []
    audit = MappingAudit.objects.get()
    assert (audit.kind, audit.regos_id, audit.old_target, audit.new_target, audit.days_changed) == (
        "stock",
        YANGI,
        "",
        NEW,
        1,
    )
    yangi.refresh_from_db()
    assert (yangi.retail_sales, yangi.total_sales) == (d("500000.00"), d("500000.00"))

    # Unmapping takes it out again.
    assert services.stock_mapping_set(regos_stock_id=YANGI, branch=None) == 1
    assert history_table() == RULES_HISTORY


def test_unmapped_user_shows_unassigned_until_mapped(server) -> None:  # type: ignore[no-untyped-def]
    sync()
    assert [u.regos_user_id for u in selectors.unassigned_users()] == [NODIRA]
    requests_before = server.stats.total
    nodira = Employee.objects.create(full_name=E_NODIRA)
    assert services.seller_mapping_set(regos_user_id=NODIRA, employee=nodira) == 2
    assert server.stats.total == requests_before
    expected = dict(RULES_HISTORY)
    expected[(D1, GIJ, E_NODIRA)] = expected.pop((D1, GIJ, ""))  # c-07, seller Nodira
    expected[(D2, NAV, E_NODIRA)] = expected.pop((D2, NAV, ""))  # return 7002, attached Nodira
    assert history_table() == expected
    assert SellerMapping.objects.get(regos_user_id=NODIRA).employee == nodira
    # The audit trail of a row: the facts behind it.
    row = DailySalesHistory.objects.get(date=D2, employee=nodira)
    assert [f.regos_id for f in selectors.facts_for_history_row(row=row)] == ["7002"]


def test_branch_month_to_date_and_employee_latest_day(server, navoiy, gijduvon, aziz, dilnoza, bobur) -> None:  # type: ignore[no-untyped-def]
    sync(D1, D2)
    navoiy.refresh_from_db()
    gijduvon.refresh_from_db()
    # Navoiy retail: D1 195000 − 15000 + 42000.50, D2 20000 + 30000 − 5000 + 12345.67 = 279346.17
    # Navoiy wholesale: 2000000 + 1271325 − 250000 − 632500 = 2388825.00
    assert (navoiy.retail_sales, navoiy.wholesale_sales, navoiy.total_sales, navoiy.totals_month) == (
        d("279346.17"),
        d("2388825.00"),
        d("2668171.17"),
        TODAY.replace(day=1),
    )
    assert (gijduvon.retail_sales, gijduvon.wholesale_sales, gijduvon.total_sales) == (
        d("250000.00"),
        d("1500000.00"),
        d("1750000.00"),
    )
    # Latest synced day is D2: net retail / net wholesale per employee, across branches.
    figures = {e.full_name: (e.daily_sales, e.wholesale_sales, e.sales_date) for e in Employee.objects.all()}
    assert figures == {
        E_AZIZ: (d("20000.00"), d("-250000.00"), D2),
        E_DILNOZA: (d("25000.00"), Z, D2),
        E_BOBUR: (d("12345.67"), d("1500000.00"), D2),
    }


def test_cheque_count_counts_closed_retail_sales_only(server) -> None:  # type: ignore[no-untyped-def]
    sync()
    counts = {key: row[5] for key, row in history_table().items()}
    # D1 Navoiy/Aziz: c-01, c-06 (not the return c-03, not shipment 5602); Bobur: wholesale only.
    assert counts[(D1, NAV, E_AZIZ)] == 2 and counts[(D1, NAV, E_BOBUR)] == 0
    assert sum(counts.values()) == 7  # closed sale cheques in mapped stocks: c-01 02 06 07 09 10 11
    assert counts[(D2, GIJ, E_BOBUR)] == 0  # a day of wholesale only
    assert StockMapping.objects.get(regos_stock_id=YANGI).branch is None  # discovered, listed, unmapped
