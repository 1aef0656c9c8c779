"""payroll.selectors: filtered history, totals, subtotals, chart series — against the hand-checked
table in tests/fixtures/people.py (every expected figure below was added up by hand)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from payroll.models import UNASSIGNED, Branch, DailySalesHistory
from payroll.selectors import (
    Figures,
    as_history_rows,
    daily_totals_by_branch,
    history_overview,
    history_rows,
    history_totals,
    monthly_summary,
    subtotals_by_branch,
    subtotals_by_employee,
)

pytestmark = pytest.mark.django_db

NOV_1, NOV_30 = date(2026, 11, 1), date(2026, 11, 30)


def figures(rs: str, rr: str, ws: str, wr: str, total: str, cheques: int) -> Figures:
    return Figures(Decimal(rs), Decimal(rr), Decimal(ws), Decimal(wr), Decimal(total), cheques)


def test_totals_of_november(november_sales) -> None:  # noqa: ANN001
    # 1500000+800000.50+650000+1200000.25+99999.75 = 4250000.50 retail; returns 100000+50000;
    # wholesale 2000000+5000000; wholesale returns 300000+250000; 12+5+4+9+1 cheques.
    assert history_totals(date_from=NOV_1, date_to=NOV_30) == figures(
        "4250000.50", "150000.00", "7000000.00", "550000.00", "10550000.50", 31
    )


def test_rows_are_ordered_by_day_branch_employee_and_skip_rows_without_activity(november_sales) -> None:  # noqa: ANN001
    rows = as_history_rows(history_rows(date_from=NOV_1, date_to=NOV_30))
    assert [(r.date.day, r.branch_name, r.employee_name) for r in rows] == [
        (2, "G'ijduvon filiali", "Rahimov Bobur"),
        (2, "Navoiy filiali", "Karimova Dilnoza"),
        (2, "Navoiy filiali", "Toshmatov Aziz"),
        (3, "G'ijduvon filiali", "Rahimov Bobur"),
        (3, "Navoiy filiali", ""),  # unassigned sorts first, like the empty name in the CSV
        (3, "Navoiy filiali", "Toshmatov Aziz"),
    ]
    assert rows[4].is_unassigned and rows[4].employee_key == UNASSIGNED
    assert rows[1].figures == figures("800000.50", "0", "2000000.00", "0", "2800000.50", 5)


def test_branch_subtotals(november_sales) -> None:  # noqa: ANN001
    lines = subtotals_by_branch(date_from=NOV_1, date_to=NOV_30)
    assert [line.name for line in lines] == ["G'ijduvon filiali", "Navoiy filiali"]
    # G'ijduvon: 650000 retail, 50000 returns, 5000000 wholesale, 250000 returns; 600000+4750000 net.
    assert lines[0].figures == figures("650000.00", "50000.00", "5000000.00", "250000.00", "5350000.00", 4)
    # Navoiy: 1500000+800000.50+1200000.25+99999.75 retail; net 1400000+2800000.50+900000.25+99999.75.
    assert lines[1].figures == figures("3600000.50", "100000.00", "2000000.00", "300000.00", "5200000.50", 27)
    assert [line.rows for line in lines] == [2, 4]


def test_employee_subtotals_with_unassigned_last(november_sales) -> None:  # noqa: ANN001
    lines = subtotals_by_employee(date_from=NOV_1, date_to=NOV_30)
    assert [(line.name, line.is_unassigned) for line in lines] == [
        ("Karimova Dilnoza", False),
        ("Rahimov Bobur", False),
        ("Toshmatov Aziz", False),
        ("", True),
    ]
    dilnoza, bobur, aziz, nobody = (line.figures for line in lines)
    assert aziz == figures("2700000.25", "100000.00", "0", "300000.00", "2300000.25", 21)
    assert dilnoza == figures("800000.50", "0", "2000000.00", "0", "2800000.50", 5)
    assert bobur == figures("650000.00", "50000.00", "5000000.00", "250000.00", "5350000.00", 4)
    assert nobody == figures("99999.75", "0", "0", "0", "99999.75", 1)


def test_branch_filter(november_sales) -> None:  # noqa: ANN001
    c = november_sales
    navoiy_only = {"branch_ids": [c.navoiy.pk]}
    assert history_totals(date_from=NOV_1, date_to=NOV_30, **navoiy_only) == figures(
        "3600000.50", "100000.00", "2000000.00", "300000.00", "5200000.50", 27
    )
    assert history_rows(date_from=NOV_1, date_to=NOV_30, **navoiy_only).count() == 4


def test_employee_filter_and_unassigned_only(november_sales) -> None:  # noqa: ANN001
    c = november_sales
    aziz = history_totals(date_from=NOV_1, date_to=NOV_30, employee_ids=[c.aziz.pk])
    assert aziz == figures("2700000.25", "100000.00", "0", "300000.00", "2300000.25", 21)
    nobody = history_totals(date_from=NOV_1, date_to=NOV_30, unassigned_only=True)
    assert nobody == figures("99999.75", "0", "0", "0", "99999.75", 1)


def test_retail_only_projects_the_figures(november_sales) -> None:  # noqa: ANN001
    retail = history_overview(date_from=NOV_1, date_to=NOV_30, sale_type="retail")
    # Bobur's 2026-11-03 row is wholesale only: left out. Net = 4250000.50 - 150000.
    assert retail.rows == 5
    assert retail.totals == figures("4250000.50", "150000.00", "0", "0", "4100000.50", 31)
    navoiy = next(line for line in retail.branches if line.name == "Navoiy filiali")
    assert navoiy.figures == figures("3600000.50", "100000.00", "0", "0", "3500000.50", 27)


def test_wholesale_only_projects_the_figures(november_sales) -> None:  # noqa: ANN001
    wholesale = history_overview(date_from=NOV_1, date_to=NOV_30, sale_type="wholesale")
    # Dilnoza 11-02 (2000000), Aziz 11-03 (return 300000), Bobur 11-03 (5000000 - 250000).
    assert wholesale.rows == 3
    assert wholesale.totals == figures("0", "0", "7000000.00", "550000.00", "6450000.00", 0)
    rows = as_history_rows(
        history_rows(date_from=NOV_1, date_to=NOV_30, sale_type="wholesale"), sale_type="wholesale"
    )
    assert [r.figures.total_sales for r in rows] == [
        Decimal("2000000.00"),
        Decimal("4750000.00"),
        Decimal("-300000.00"),
    ]


def test_unknown_sale_type_is_refused(november_sales) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="unknown sale type"):
        history_totals(date_from=NOV_1, date_to=NOV_30, sale_type="barter")  # type: ignore[typeddict-item]


def test_range_edges_are_inclusive(november_sales) -> None:  # noqa: ANN001
    two_days = history_totals(date_from=date(2026, 10, 31), date_to=date(2026, 11, 2))
    # 777000 (10-31) + 1400000 + 2800000.50 + 600000 (11-02).
    assert two_days.total_sales == Decimal("5577000.50")
    assert two_days.cheque_count == 3 + 12 + 5 + 4


def test_daily_totals_for_the_chart(november_sales) -> None:  # noqa: ANN001
    daily = daily_totals_by_branch(date_from=date(2026, 11, 1), date_to=date(2026, 11, 4))
    assert daily.days == [date(2026, 11, d) for d in (1, 2, 3, 4)]
    assert [s.name for s in daily.series] == ["G'ijduvon filiali", "Navoiy filiali"]
    gijduvon, navoiy = daily.series
    assert gijduvon.totals == [Decimal("0.00"), Decimal("600000.00"), Decimal("4750000.00"), Decimal("0.00")]
    # 11-02: 1400000 + 2800000.50; 11-03: 900000.25 + 99999.75.
    assert navoiy.totals == [Decimal("0.00"), Decimal("4200000.50"), Decimal("1000000.00"), Decimal("0.00")]
    assert daily.peak == Decimal("4750000.00")


def test_monthly_summary_is_the_calendar_month(november_sales) -> None:  # noqa: ANN001
    summary = monthly_summary(month=date(2026, 11, 17))
    assert (summary.date_from, summary.date_to) == (NOV_1, NOV_30)
    assert summary.total == figures("4250000.50", "150000.00", "7000000.00", "550000.00", "10550000.50", 31)
    assert [line.name for line in summary.employees] == [
        "Karimova Dilnoza",
        "Rahimov Bobur",
        "Toshmatov Aziz",
        "",
    ]
    december = monthly_summary(month=date(2026, 12, 1))
    assert december.total == figures("10000.00", "0", "0", "0", "10000.00", 1)
    assert [line.name for line in december.branches] == ["G'ijduvon filiali"]


def test_empty_range_gives_zero_totals(db) -> None:  # noqa: ANN001
    overview = history_overview(date_from=NOV_1, date_to=NOV_30)
    assert overview.totals == Figures() and overview.rows == 0
    assert overview.branches == [] and overview.employees == [] and overview.daily.series == []


def test_sums_are_exact_to_the_tiyin_for_big_amounts(db) -> None:  # noqa: ANN001
    """SQLite's SUM() adds floats: 60 days of 123 456 789 012.34 give 7 407 407 340 740.39, not .40."""
    branch = Branch.objects.create(name="Markaziy ombor")
    DailySalesHistory.objects.bulk_create(
        DailySalesHistory(
            date=date(2026, 1, 1) + timedelta(days=day),
            branch=branch,
            employee_key=UNASSIGNED,
            wholesale_sales=Decimal("123456789012.34"),
            total_sales=Decimal("123456789012.34"),
        )
        for day in range(60)
    )
    totals = history_totals(date_from=date(2026, 1, 1), date_to=date(2026, 3, 1))
    # 123456789012.34 x 6 = 740740734074.04; x 10 = 7407407340740.40
    assert totals.wholesale_sales == Decimal("7407407340740.40")
    assert totals.total_sales == Decimal("7407407340740.40")
