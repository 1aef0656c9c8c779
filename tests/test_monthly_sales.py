"""``monthlysales``: month totals per branch and employee for the Node payroll, kept from history.

Figures are added up by hand in the comments; the rows are written as the sync writes history.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from payroll.models import UNASSIGNED, Branch, DailySalesHistory, Employee, MonthlySales
from sync.engine import history
from sync.models import HistoryDay

pytestmark = pytest.mark.django_db


def row(day: date, branch: Branch, employee: Employee | None, rs: str, rr: str, ws: str, wr: str,
        cheques: int) -> DailySalesHistory:
    total = Decimal(rs) - Decimal(rr) + Decimal(ws) - Decimal(wr)
    return DailySalesHistory.objects.create(
        date=day, branch=branch, employee=employee, retail_sales=Decimal(rs), retail_returns=Decimal(rr),
        wholesale_sales=Decimal(ws), wholesale_returns=Decimal(wr), total_sales=total, cheque_count=cheques,
    )


def month_rows(month: str) -> dict[tuple[str, str], tuple]:
    return {
        (m.branch.name, m.employee.full_name if m.employee else UNASSIGNED): (
            m.retail_sales, m.retail_returns, m.wholesale_sales, m.wholesale_returns, m.total_sales, m.cheque_count
        )
        for m in MonthlySales.objects.filter(month=month).select_related("branch", "employee")
    }


@pytest.fixture
def two_months(navoiy: Branch, gijduvon: Branch, aziz: Employee, bobur: Employee,
               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "today", lambda: date(2026, 12, 2))
    row(date(2026, 10, 31), navoiy, aziz, "999.00", "0.00", "0.00", "0.00", 1)
    row(date(2026, 11, 1), navoiy, aziz, "1000.50", "100.25", "0.00", "0.00", 3)
    row(date(2026, 11, 30), navoiy, aziz, "2000.00", "0.00", "500.00", "50.00", 2)
    row(date(2026, 11, 30), navoiy, None, "10.01", "0.00", "0.00", "0.00", 1)
    row(date(2026, 11, 15), gijduvon, bobur, "0.00", "0.00", "7000.00", "0.00", 0)
    row(date(2026, 12, 1), gijduvon, bobur, "300.00", "0.00", "0.00", "0.00", 1)
    for day in (date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 15), date(2026, 11, 30), date(2026, 12, 1)):
        HistoryDay.objects.create(date=day)


def test_every_month_with_history_gets_its_totals_per_branch_and_employee(two_months: None) -> None:
    history.totals_recompute()
    assert month_rows("2026-11") == {
        # 1000.50 + 2000.00 = 3000.50 gross retail, 100.25 returns, 500 − 50 wholesale:
        # net 3000.50 − 100.25 + 500.00 − 50.00 = 3350.25; 3 + 2 cheques.
        ("Navoiy filiali", "Toshmatov Aziz"): (
            Decimal("3000.50"), Decimal("100.25"), Decimal("500.00"), Decimal("50.00"), Decimal("3350.25"), 5
        ),
        ("Navoiy filiali", UNASSIGNED): (
            Decimal("10.01"), Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("10.01"), 1
        ),
        ("G'ijduvon filiali", "Rahimov Bobur"): (
            Decimal("0.00"), Decimal("0.00"), Decimal("7000.00"), Decimal("0.00"), Decimal("7000.00"), 0
        ),
    }
    # October is not this month nor the last, yet it has history: it is there too (first computation).
    assert month_rows("2026-10") == {
        ("Navoiy filiali", "Toshmatov Aziz"): (
            Decimal("999.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("999.00"), 1
        ),
    }
    assert month_rows("2026-12") == {
        ("G'ijduvon filiali", "Rahimov Bobur"): (
            Decimal("300.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("300.00"), 1
        ),
    }
    unassigned = MonthlySales.objects.get(month="2026-11", employee_key=UNASSIGNED)
    assert unassigned.employee is None


def test_a_changed_old_day_updates_its_month_and_a_vanished_row_goes(
    two_months: None, navoiy: Branch, aziz: Employee
) -> None:
    history.totals_recompute()
    assert MonthlySales.objects.count() == 5
    # A re-aggregation of 31 October (touches its HistoryDay) moves the sale to nobody.
    DailySalesHistory.objects.filter(date=date(2026, 10, 31)).delete()
    row(date(2026, 10, 31), navoiy, None, "999.00", "0.00", "0.00", "0.00", 1)
    HistoryDay.objects.filter(date=date(2026, 10, 31)).update(updated_at=timezone.now())
    history.totals_recompute()
    assert month_rows("2026-10") == {
        ("Navoiy filiali", UNASSIGNED): (
            Decimal("999.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("999.00"), 1
        ),
    }
    assert MonthlySales.objects.filter(month="2026-10", employee=aziz).count() == 0


def test_recomputing_without_changes_writes_no_figures(two_months: None) -> None:
    history.totals_recompute()
    before = {m.pk: m.total_sales for m in MonthlySales.objects.all()}
    assert history.monthly_sales_recompute(month=date(2026, 11, 1)) == 0
    assert {m.pk: m.total_sales for m in MonthlySales.objects.all()} == before
