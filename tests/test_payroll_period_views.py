"""The payroll periods pages: who may close and reopen, the confirmation a not-ready month needs, the
reason a reopen needs, the changes-after-close page and the XLSX payroll register.

Figures: ``november_sales`` (tests/fixtures/people.py), summed by hand below.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone, translation
from openpyxl import load_workbook

from payroll import services
from payroll.models import MonthlySales, PayrollAdjustment, PayrollPeriod, PeriodTransition
from sync.engine import history
from sync.models import SyncRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def december(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "today", lambda: date(2026, 12, 2))


@pytest.fixture
def november(november_sales, december) -> None:  # type: ignore[no-untyped-def]
    history.totals_recompute()


def test_users_without_the_permission_get_403(november, client: Client, staff_without_role) -> None:  # type: ignore[no-untyped-def]
    client.force_login(staff_without_role)
    for url in ("/reports/periods/", "/reports/periods/2026-11/close/", "/reports/periods/2026-11/reopen/",
                "/reports/periods/changes/", "/reports/periods/2026-11/register.xlsx"):
        assert client.get(url).status_code == 403, url
    assert client.post("/reports/periods/2026-11/close/").status_code == 403
    assert not PayrollPeriod.objects.filter(status="closed").exists()


def test_only_holders_of_close_payroll_period_may_close(november, client: Client, accountant,
                                                         staff_without_role) -> None:  # type: ignore[no-untyped-def]
    assert accountant.has_perm("payroll.close_payrollperiod")
    staff_without_role.user_permissions.add(*Permission.objects.filter(codename="view_reports"))
    client.force_login(staff_without_role)
    assert client.get("/reports/periods/").status_code == 200
    assert client.post("/reports/periods/2026-11/close/", {"confirm": "on"}).status_code == 403


def test_close_needs_confirmation_when_not_ready_and_records_it(november, accountant_client: Client) -> None:  # type: ignore[no-untyped-def]
    SyncRun.objects.create(trigger="user", date_from=date(2026, 11, 5), date_to=date(2026, 11, 5),
                           status=SyncRun.Status.FAILED)
    page = accountant_client.get("/reports/periods/2026-11/close/")
    assert page.status_code == 200
    assert [item.code for item in page.context["problems"]] == ["failed_run", "unreconciled"]
    refused = accountant_client.post("/reports/periods/2026-11/close/", {"note": ""})
    assert refused.status_code == 400
    assert not PayrollPeriod.objects.filter(status="closed").exists()
    done = accountant_client.post("/reports/periods/2026-11/close/", {"confirm": "on", "note": "paid 5 Dec"})
    assert done.status_code == 302
    period = PayrollPeriod.objects.get(month="2026-11")
    assert period.is_closed and period.closed_by == "buxgalter"
    (transition,) = PeriodTransition.objects.all()
    assert transition.reason == "paid 5 Dec" and len(transition.confirmed_problems) == 2
    assert "2026-11-05" in transition.confirmed_problems[0]
    assert transition.confirmed_problems[1] == "Hali REGOS bilan solishtirilmagan."  # uz: the default language
    assert set(MonthlySales.objects.filter(month="2026-11").values_list("closed", flat=True)) == {True}
    assert set(MonthlySales.objects.filter(month="2026-12").values_list("closed", flat=True)) == {False}


def test_reopen_requires_a_reason(november, accountant_client: Client) -> None:  # type: ignore[no-untyped-def]
    services.period_close(month=date(2026, 11, 1), username="buxgalter", problems=[], confirmed=False)
    assert accountant_client.post("/reports/periods/2026-11/reopen/", {"reason": "  "}).status_code == 400
    assert PayrollPeriod.objects.get(month="2026-11").is_closed
    assert accountant_client.post("/reports/periods/2026-11/reopen/", {"reason": "Wrong branch"}).status_code == 302
    assert not PayrollPeriod.objects.get(month="2026-11").is_closed
    assert list(PeriodTransition.objects.order_by("at").values_list("action", "reason")) == [
        ("close", ""), ("reopen", "Wrong branch")
    ]


def test_register_xlsx_of_a_closed_month(november, accountant_client: Client, cast_people) -> None:  # type: ignore[no-untyped-def]
    services.period_close(month=date(2026, 11, 1), username="buxgalter", problems=[], confirmed=False)
    # A change found later (recorded by hand here: the sync's path is in test_payroll_periods.py).
    PayrollAdjustment.objects.create(
        month="2026-11", closing=1, branch=cast_people.navoiy, employee=cast_people.aziz,
        employee_key=str(cast_people.aziz.pk), sequence=1, carried_to="2026-12", found_at=timezone.now(),
        retail_returns=Decimal("40000.00"), total_sales=Decimal("-40000.00"),
        documents=[{"code": "000123", "regosId": "c-late"}],
    )
    response = accountant_client.get("/reports/periods/2026-11/register.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    sheets = {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in book.worksheets}
    period, employees, branches, changes, carried = sheets.values()
    with translation.override("uz"):  # the panel's default language
        assert period[1][0:2] == ["2026-11", str(PayrollPeriod.Status.CLOSED.label)]
    assert period[1][3] == "buxgalter"
    # November per employee (people.py table): Aziz 1500000 + 1200000.25 retail, 100000 returns,
    # 300000 wholesale returns → net 1400000 + 900000.25 = 2300000.25; 12 + 9 cheques.
    aziz = next(row for row in employees if row[0] == "Toshmatov Aziz")
    assert aziz[1:] == [2700000.25, 100000, 0, 300000, 2300000.25, 21]
    # Per branch, G'ijduvon: 650000 − 50000 + 5000000 − 250000 = 5350000.00.
    gij = next(row for row in branches if row[0] == "G'ijduvon filiali")
    assert gij[5] == 5350000
    # Total net: 1400000 + 2800000.50 + 600000 + 900000.25 + 99999.75 + 4750000 = 10550000.50
    assert employees[-1][5] == 10550000.5
    assert changes[1][0:4] == ["2026-11", "2026-12", "Toshmatov Aziz", "Navoiy filiali"]
    assert changes[1][5] == 40000 and changes[1][8] == -40000 and changes[1][-1] == "000123"
    assert len(carried) == 2  # header + totals: nothing carried into November

    december_book = load_workbook(io.BytesIO(b"".join(
        accountant_client.get("/reports/periods/2026-12/register.xlsx").streaming_content)), read_only=True)
    carried_in = [list(r) for r in december_book.worksheets[4].iter_rows(values_only=True)]
    assert carried_in[1][0:3] == ["2026-11", "2026-12", "Toshmatov Aziz"] and carried_in[1][8] == -40000

    changes_page = accountant_client.get("/reports/periods/changes/?month=2026-11")
    assert changes_page.status_code == 200 and "000123" in changes_page.content.decode()
