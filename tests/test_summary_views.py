"""The monthly summary page: per employee and per branch, the figures payroll takes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest
import time_machine
from django.utils import translation

from tests.fixtures.people import _row

pytestmark = pytest.mark.django_db

SUMMARY = "/reports/summary/"


def table_rows(html: str, element_id: str) -> list[str]:
    match = re.search(rf'<table[^>]*id="{element_id}".*?</table>', html, re.S)
    assert match, f"no #{element_id}"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", match.group(0), re.S)
    return [unescape(re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", row)).strip()) for row in rows]


def test_november_in_english(accountant_client, november_sales) -> None:  # noqa: ANN001
    with translation.override("en"):
        response = accountant_client.get(SUMMARY, {"month": "2026-11"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    # Per employee, by hand from the fixture table (10-31 and 12-01 are other months; Dilnoza's 11-04
    # row has no activity, so she has one day with sales, not two).
    assert table_rows(html, "summary-employees") == [
        "Employee Retail sales Retail returns Wholesale sales Wholesale returns Net total Cheques Days with sales",
        "Karimova Dilnoza 800,000.50 0.00 2,000,000.00 0.00 2,800,000.50 5 1",
        "Rahimov Bobur 650,000.00 50,000.00 5,000,000.00 250,000.00 5,350,000.00 4 2",
        "Toshmatov Aziz 2,700,000.25 100,000.00 0.00 300,000.00 2,300,000.25 21 2",
        "(unassigned) 99,999.75 0.00 0.00 0.00 99,999.75 1 1",
        "Total 4,250,000.50 150,000.00 7,000,000.00 550,000.00 10,550,000.50 31",
    ]
    assert table_rows(html, "summary-branches")[1:] == [
        "G'ijduvon filiali 650,000.00 50,000.00 5,000,000.00 250,000.00 5,350,000.00 4 2",
        "Navoiy filiali 3,600,000.50 100,000.00 2,000,000.00 300,000.00 5,200,000.50 27 2",
        "Total 4,250,000.50 150,000.00 7,000,000.00 550,000.00 10,550,000.50 31",
    ]
    # Month navigation, and the Export buttons export this summary (not the daily rows).
    assert 'href="?month=2026-10"' in html and 'href="?month=2026-12"' in html
    assert "/reports/summary/export.xlsx?month=2026-11" in html
    for table in ("employees", "branches", "breakdown"):
        assert f"/reports/summary/export.csv?month=2026-11&amp;table={table}" in html
    assert "/reports/export.csv" not in html and "/reports/history/export" not in html


def test_october_has_only_its_own_day(accountant_client, november_sales) -> None:  # noqa: ANN001
    with translation.override("en"):
        html = accountant_client.get(
            SUMMARY, {"month": "2026-10"}, HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
    assert table_rows(html, "summary-employees")[1:] == [
        "Toshmatov Aziz 777,000.00 0.00 0.00 0.00 777,000.00 3 1",
        "Total 777,000.00 0.00 0.00 0.00 777,000.00 3",
    ]


def test_default_month_is_the_current_one(client, accountant, november_sales) -> None:  # noqa: ANN001
    with time_machine.travel(datetime(2026, 12, 15, 7, 0, tzinfo=UTC), tick=False):
        client.force_login(accountant)  # inside the travel: a session from "before" would have expired
        response = client.get(SUMMARY)
    assert response.status_code == 200
    assert response.context["summary"].month.isoformat() == "2026-12-01"
    assert 'value="2026-12"' in response.content.decode()


@pytest.mark.parametrize(
    ("moment", "month"),
    [
        # On the 2nd payroll is being worked out: last month.
        (datetime(2026, 12, 2, 7, 0, tzinfo=UTC), "2026-11-01"),
        # The 5th, 23:59 in Tashkent (18:59 UTC): still last month.
        (datetime(2026, 12, 5, 18, 59, tzinfo=UTC), "2026-11-01"),
        # 19:00 UTC on the 5th is 00:00 on the 6th in Tashkent: this month from now on.
        (datetime(2026, 12, 5, 19, 0, tzinfo=UTC), "2026-12-01"),
        # 19:30 UTC on 31 December is already 1 January in Tashkent: last month is December of last year.
        (datetime(2026, 12, 31, 19, 30, tzinfo=UTC), "2026-12-01"),
    ],
)
def test_first_days_of_a_month_open_on_last_month(client, accountant, november_sales, moment, month) -> None:  # noqa: ANN001
    with time_machine.travel(moment, tick=False):
        client.force_login(accountant)
        response = client.get(SUMMARY)
    assert response.status_code == 200
    assert response.context["summary"].month.isoformat() == month


def test_employee_branch_breakdown_and_days(accountant_client, november_sales) -> None:  # noqa: ANN001
    c = november_sales
    # Aziz also sold in G'ijduvon on 11-03 (3000.00 retail, 1 cheque), the day he sold in Navoiy too.
    _row("2026-11-03", c.gijduvon, c.aziz, "3000.00", "0", "0", "0", "3000.00", 1)
    with translation.override("en"):
        html = accountant_client.get(SUMMARY, {"month": "2026-11"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert table_rows(html, "summary-breakdown") == [
        "Employee Branch Retail sales Retail returns Wholesale sales Wholesale returns Net total Cheques "
        "Days with sales",
        "Karimova Dilnoza Navoiy filiali 800,000.50 0.00 2,000,000.00 0.00 2,800,000.50 5 1",
        "Rahimov Bobur G'ijduvon filiali 650,000.00 50,000.00 5,000,000.00 250,000.00 5,350,000.00 4 2",
        "Toshmatov Aziz G'ijduvon filiali 3,000.00 0.00 0.00 0.00 3,000.00 1 1",
        "Toshmatov Aziz Navoiy filiali 2,700,000.25 100,000.00 0.00 300,000.00 2,300,000.25 21 2",
        "(unassigned) Navoiy filiali 99,999.75 0.00 0.00 0.00 99,999.75 1 1",
        # 10550000.50 + 3000.00; 31 + 1 cheques.
        "Total 4,253,000.50 150,000.00 7,000,000.00 550,000.00 10,553,000.50 32",
    ]
    # Aziz over both branches: 2700000.25 + 3000.00 on two days (11-02, 11-03), not three rows' worth.
    assert "Toshmatov Aziz 2,703,000.25 100,000.00 0.00 300,000.00 2,303,000.25 22 2" in table_rows(
        html, "summary-employees"
    )


def test_numbers_follow_the_language(accountant_client, november_sales) -> None:  # noqa: ANN001
    html = accountant_client.get(SUMMARY, {"month": "2026-11"}).content.decode()  # Uzbek by default
    assert "10\xa0550\xa0000,50" in table_rows(html, "summary-branches")[-1]


@pytest.mark.parametrize("month", ["2026-13", "november", "2026-1", "1999-05", "2026-11-01"])
def test_bad_month_is_a_form_error(accountant_client, november_sales, month) -> None:  # noqa: ANN001
    with translation.override("en"):
        response = accountant_client.get(SUMMARY, {"month": month}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "Enter a month as YYYY-MM" in response.content.decode()
