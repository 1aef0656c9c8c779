"""The monthly summary page: per employee and per branch, the figures payroll takes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest
import time_machine
from django.utils import translation

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
    # Per employee, by hand from the fixture table (10-31 and 12-01 are other months).
    assert table_rows(html, "summary-employees") == [
        "Employee Retail sales Retail returns Wholesale sales Wholesale returns Net total Cheques",
        "Karimova Dilnoza 800,000.50 0.00 2,000,000.00 0.00 2,800,000.50 5",
        "Rahimov Bobur 650,000.00 50,000.00 5,000,000.00 250,000.00 5,350,000.00 4",
        "Toshmatov Aziz 2,700,000.25 100,000.00 0.00 300,000.00 2,300,000.25 21",
        "(unassigned) 99,999.75 0.00 0.00 0.00 99,999.75 1",
        "Total 4,250,000.50 150,000.00 7,000,000.00 550,000.00 10,550,000.50 31",
    ]
    assert table_rows(html, "summary-branches")[1:] == [
        "G'ijduvon filiali 650,000.00 50,000.00 5,000,000.00 250,000.00 5,350,000.00 4",
        "Navoiy filiali 3,600,000.50 100,000.00 2,000,000.00 300,000.00 5,200,000.50 27",
        "Total 4,250,000.50 150,000.00 7,000,000.00 550,000.00 10,550,000.50 31",
    ]
    # Month navigation and the export of the whole month.
    assert 'href="?month=2026-10"' in html and 'href="?month=2026-12"' in html
    assert "/reports/export.csv?date_from=2026-11-01&amp;date_to=2026-11-30" in html
    assert "/reports/export.xlsx?date_from=2026-11-01&amp;date_to=2026-11-30" in html


def test_october_has_only_its_own_day(accountant_client, november_sales) -> None:  # noqa: ANN001
    with translation.override("en"):
        html = accountant_client.get(
            SUMMARY, {"month": "2026-10"}, HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
    assert table_rows(html, "summary-employees")[1:] == [
        "Toshmatov Aziz 777,000.00 0.00 0.00 0.00 777,000.00 3",
        "Total 777,000.00 0.00 0.00 0.00 777,000.00 3",
    ]


def test_default_month_is_the_current_one(client, accountant, november_sales) -> None:  # noqa: ANN001
    with time_machine.travel(datetime(2026, 12, 15, 7, 0, tzinfo=UTC), tick=False):
        client.force_login(accountant)  # inside the travel: a session from "before" would have expired
        response = client.get(SUMMARY)
    assert response.status_code == 200
    assert response.context["summary"].month.isoformat() == "2026-12-01"
    assert 'value="2026-12"' in response.content.decode()


def test_numbers_follow_the_language(accountant_client, november_sales) -> None:  # noqa: ANN001
    html = accountant_client.get(SUMMARY, {"month": "2026-11"}).content.decode()  # Uzbek by default
    assert "10\xa0550\xa0000,50" in table_rows(html, "summary-branches")[-1]


@pytest.mark.parametrize("month", ["2026-13", "november", "2026-1", "1999-05", "2026-11-01"])
def test_bad_month_is_a_form_error(accountant_client, november_sales, month) -> None:  # noqa: ANN001
    with translation.override("en"):
        response = accountant_client.get(SUMMARY, {"month": month}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "Enter a month as YYYY-MM" in response.content.decode()
