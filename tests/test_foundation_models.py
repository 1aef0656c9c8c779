"""The payroll data model: one history row per day/branch/employee, Decimal money, stored names."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError

from payroll.models import UNASSIGNED, Branch, DailySalesHistory, Employee

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 24)


def test_one_history_row_per_day_branch_and_employee(navoiy: Branch, aziz: Employee) -> None:
    DailySalesHistory.objects.create(date=DAY, branch=navoiy, employee=aziz, retail_sales=Decimal("100.00"))
    with pytest.raises(IntegrityError):
        DailySalesHistory.objects.create(date=DAY, branch=navoiy, employee=aziz)


def test_one_unassigned_row_per_day_and_branch(navoiy: Branch) -> None:
    first = DailySalesHistory.objects.create(date=DAY, branch=navoiy, employee=None)
    assert first.employee_key == UNASSIGNED
    with pytest.raises(IntegrityError):
        DailySalesHistory.objects.create(date=DAY, branch=navoiy, employee=None)


def test_same_employee_on_other_day_or_branch_is_allowed(navoiy: Branch, gijduvon: Branch, aziz: Employee) -> None:
    DailySalesHistory.objects.create(date=DAY, branch=navoiy, employee=aziz)
    DailySalesHistory.objects.create(date=date(2026, 11, 25), branch=navoiy, employee=aziz)
    DailySalesHistory.objects.create(date=DAY, branch=gijduvon, employee=aziz)
    DailySalesHistory.objects.create(date=DAY, branch=navoiy, employee=None)
    assert DailySalesHistory.objects.count() == 4


def test_branch_name_is_unique(navoiy: Branch) -> None:
    with pytest.raises(IntegrityError):
        Branch.objects.create(name="Navoiy filiali")


def test_money_is_decimal_with_two_places(navoiy: Branch, aziz: Employee) -> None:
    # SQLite keeps decimals as REAL: exact to 15 significant digits, i.e. amounts below 10^13 UZS
    # (ten trillion so'm) — far above one branch-day. MongoDB keeps Decimal128 and is exact to 18.
    DailySalesHistory.objects.create(
        date=DAY, branch=navoiy, employee=aziz,
        retail_sales=Decimal("1234567890123.78"), retail_returns=Decimal("0.10"),
        wholesale_sales=Decimal("0.20"), wholesale_returns=Decimal("0.01"),
        total_sales=Decimal("1234567890123.97"),
    )
    row = DailySalesHistory.objects.get()
    for field in ("retail_sales", "retail_returns", "wholesale_sales", "wholesale_returns", "total_sales"):
        assert isinstance(getattr(row, field), Decimal), field
    assert row.retail_sales == Decimal("1234567890123.78")
    # 1234567890123.78 - 0.10 + 0.20 - 0.01, worked by hand
    assert row.total_sales == Decimal("1234567890123.97")
    assert row.retail_returns == Decimal("0.10")
    navoiy.refresh_from_db()
    assert isinstance(navoiy.total_sales, Decimal)
    assert isinstance(aziz.daily_sales, Decimal)


def test_stored_names_follow_the_payroll_system() -> None:
    assert Branch._meta.db_table == "branches"
    assert Employee._meta.db_table == "employees"
    assert DailySalesHistory._meta.db_table == "dailysaleshistories"
    columns = {f.name: f.column for f in Branch._meta.fields}
    assert (columns["retail_sales"], columns["wholesale_sales"], columns["total_sales"]) == (
        "retailSales", "wholesaleSales", "totalSales",
    )
    columns = {f.name: f.column for f in Employee._meta.fields}
    assert (columns["daily_sales"], columns["wholesale_sales"]) == ("dailySales", "wholesaleSales")


def test_money_fields_have_18_digits_and_2_places() -> None:
    for model in (Branch, Employee, DailySalesHistory):
        for field in model._meta.fields:
            if field.get_internal_type() == "DecimalField":
                assert (field.max_digits, field.decimal_places) == (18, 2), f"{model.__name__}.{field.name}"
