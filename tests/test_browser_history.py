"""In a real browser: an accountant reads the sales history and the monthly summary, exports them, switches
to Russian.

Figures come from the hand-checked table in tests/fixtures/people.py. Screenshots land in
tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from tests.fixtures.browser import download, login, screenshot
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NBSP = "\xa0"

BOM = b"\xef\xbb\xbf"
# The history page's Export of Navoiy's November in Uzbek, typed from the fixture table (not produced by
# the code): UTF-8 with BOM, ";" and decimal commas (what Excel in an uz/ru locale splits into columns),
# Uzbek headers, and a totals row added up by hand (retail 800000.50 + 1500000 + 99999.75 + 1200000.25 =
# 3600000.50, net 5200000.50, cheques 5 + 12 + 1 + 9 = 27).
NAVOIY_CSV_UZ = (
    "Savdo kuni;Filial;Xodim;Chakana savdo;Chakana qaytarishlar;Ulgurji savdo;Ulgurji qaytarishlar;Sof jami;"
    "Cheklar\r\n"
    "2026-11-02;Navoiy filiali;Karimova Dilnoza;800000,50;0,00;2000000,00;0,00;2800000,50;5\r\n"
    "2026-11-02;Navoiy filiali;Toshmatov Aziz;1500000,00;100000,00;0,00;0,00;1400000,00;12\r\n"
    "2026-11-03;Navoiy filiali;(biriktirilmagan);99999,75;0,00;0,00;0,00;99999,75;1\r\n"
    "2026-11-03;Navoiy filiali;Toshmatov Aziz;1200000,25;0,00;0,00;300000,00;900000,25;9\r\n"
    "Jami;;;3600000,50;100000,00;2000000,00;300000,00;5200000,50;27\r\n"
)
NAVOIY_CSV_FILE = "sales-history_2026-11-01_2026-11-30_navoiy-filiali.csv"


def filter_navoiy_november(page) -> None:  # type: ignore[no-untyped-def]
    page.fill("#id_date_from", "2026-11-01")
    page.fill("#id_date_to", "2026-11-30")
    page.select_option("#id_branch", label="Navoiy filiali")
    with page.expect_navigation():
        page.click("#history-filters input[type=submit]")


def test_accountant_reads_filters_exports_and_switches_to_russian(  # noqa: ANN201
    browser_page,
    accountant,
    november_sales,  # noqa: ANN001
):
    page = browser_page
    login(page, "buxgalter", PASSWORD)

    # The index, in Uzbek (the default): the reports box, and none of the admins' controls.
    assert page.locator("#regos-reports").is_visible()
    assert page.locator("#regos-reports").get_by_text("Savdo tarixi").is_visible()
    assert page.locator("a.addlink").count() == 0
    assert page.locator("form[action*='/sync/now/'], a[href*='/sync/now/']").count() == 0
    screenshot(page, "accountant-index-uz")

    with page.expect_navigation():
        page.locator("#regos-reports").get_by_text("Savdo tarixi").click()
    assert page.locator("h1").inner_text() == "Savdo tarixi"
    filter_navoiy_november(page)
    assert "branch=" in page.url

    # Navoiy, by hand: 3600000.50 retail, 100000 returns, 2000000 wholesale, 300000 returns, 5200000.50 net.
    totals = page.locator("#history-totals .regos-total").text_content()
    for figure in ("3 600 000,50", "100 000,00", "2 000 000,00", "300 000,00", "5 200 000,50"):
        assert figure.replace(" ", NBSP) in totals
    assert page.locator("#history-rows tbody tr").count() == 4
    assert page.locator("#branch-subtotals tbody tr").count() == 1
    assert page.locator(".regos-chart svg polyline").count() == 1
    # The unassigned row is there, but the "map the REGOS user" control is for admins only.
    assert page.locator("#history-rows").get_by_text("(biriktirilmagan)").count() == 1
    assert page.locator(".regos-fix-mapping").count() == 0
    screenshot(page, "accountant-history-navoiy-uz")

    name, content = download(page, "a.regos-export-csv")
    assert name == NAVOIY_CSV_FILE
    assert content.startswith(BOM)
    assert content[len(BOM):].decode("utf-8") == NAVOIY_CSV_UZ

    # Drill-down of the first row (Dilnoza, 2026-11-02): the page opens and knows its row.
    with page.expect_navigation():
        page.locator("a.regos-drill").first.click()
    assert "Karimova Dilnoza" in page.locator(".regos-row-key").inner_text()
    screenshot(page, "accountant-documents-uz")
    with page.expect_navigation():
        page.get_by_text("Savdo tarixiga qaytish").click()
    assert "branch=" in page.url  # back with the same filters

    # Switch to Russian: the same filtered page, translated; numbers keep the Russian grouping.
    with page.expect_navigation():
        page.click(".regos-language button[value=ru]")
    assert page.locator("h1").inner_text() == "История продаж"
    assert page.locator("html").get_attribute("lang") == "ru"
    assert page.locator("#history-rows").get_by_text("(не назначен)").count() == 1
    assert f"5{NBSP}200{NBSP}000,50" in page.locator("#history-totals .regos-total").text_content()
    assert page.get_by_text("Экспорт в CSV").is_visible()
    screenshot(page, "accountant-history-navoiy-ru")

    # The panel's CSV follows the reader's language (the machine format of export_sales does not).
    name, content = download(page, "a.regos-export-csv")
    assert name == NAVOIY_CSV_FILE
    text = content[len(BOM):].decode("utf-8")
    assert text.startswith("Торговый день;Филиал;Сотрудник;Розничные продажи;")
    assert "2026-11-03;Navoiy filiali;(не назначен);99999,75;" in text
    assert text.endswith("Итого;;;3600000,50;100000,00;2000000,00;300000,00;5200000,50;27\r\n")

    with page.expect_navigation():
        page.goto("/reports/summary/?month=2026-11")
    assert page.locator("h1").inner_text() == "Месячная сводка"
    assert f"10{NBSP}550{NBSP}000,50" in page.locator("#summary-employees tfoot").text_content()
    screenshot(page, "accountant-summary-ru")


def test_admin_sees_the_mapping_control_and_english(browser_page, group_admin, november_sales) -> None:  # noqa: ANN001
    page = browser_page
    login(page, "boshqaruvchi", PASSWORD)
    with page.expect_navigation():
        page.click(".regos-language button[value=en]")
    page.goto("/reports/history/?date_from=2026-11-01&date_to=2026-11-30")
    assert page.locator("h1").inner_text() == "Sales history"
    # 10550000.50 for all of November, with English grouping.
    assert "10,550,000.50" in page.locator("#history-totals .regos-total").text_content()
    assert page.locator(".regos-fix-mapping").count() == 1
    screenshot(page, "admin-history-en")


def test_accountant_exports_the_monthly_summary(browser_page, accountant, november_sales) -> None:  # noqa: ANN001
    """The summary's Export buttons give the summary (per employee, per branch, employee × branch), not the
    daily rows; the XLSX and each CSV are opened and checked against the fixture table by hand."""
    page = browser_page
    login(page, "buxgalter", PASSWORD)
    page.goto("/reports/summary/?month=2026-11")
    assert page.locator("h1").inner_text() == "Oylik hisobot"
    assert page.locator("#summary-breakdown tbody tr").count() == 4
    screenshot(page, "accountant-summary-uz")

    name, content = download(page, "a.regos-export-xlsx")
    assert name == "sales-summary_2026-11.xlsx"
    book = load_workbook(io.BytesIO(content))
    assert book.sheetnames == ["Xodimlar boʻyicha", "Filiallar boʻyicha", "Xodim va filial boʻyicha"]
    employees = list(book.worksheets[0].iter_rows(values_only=True))
    assert employees[0][0] == "Xodim" and employees[0][-1] == "Savdo boʻlgan kunlar"
    assert [row[0] for row in employees[1:]] == [
        "Karimova Dilnoza", "Rahimov Bobur", "Toshmatov Aziz", "(biriktirilmagan)", "Jami",
    ]
    # By hand: net 2800000.50 + 5350000 + 2300000.25 + 99999.75 = 10550000.50; cheques 5 + 4 + 21 + 1 = 31.
    assert employees[-1][5:7] == (10550000.5, 31)
    assert book.worksheets[0].auto_filter.ref == "A1:H5"
    branches = list(book.worksheets[1].iter_rows(values_only=True))
    assert [(row[0], row[5], row[7]) for row in branches[1:]] == [
        ("G'ijduvon filiali", 5350000, 2), ("Navoiy filiali", 5200000.5, 2), ("Jami", 10550000.5, None),
    ]

    name, content = download(page, "a.regos-export-csv-branches")
    assert name == "sales-summary_2026-11_branches.csv"
    assert content.startswith(BOM)
    assert content[len(BOM):].decode("utf-8").splitlines() == [
        "Filial;Chakana savdo;Chakana qaytarishlar;Ulgurji savdo;Ulgurji qaytarishlar;Sof jami;Cheklar;"
        "Savdo boʻlgan kunlar",
        "G'ijduvon filiali;650000,00;50000,00;5000000,00;250000,00;5350000,00;4;2",
        "Navoiy filiali;3600000,50;100000,00;2000000,00;300000,00;5200000,50;27;2",
        "Jami;4250000,50;150000,00;7000000,00;550000,00;10550000,50;31;",
    ]
    name, content = download(page, "a.regos-export-csv-breakdown")
    assert name == "sales-summary_2026-11_breakdown.csv"
    lines = content[len(BOM):].decode("utf-8").splitlines()
    assert lines[1] == "Karimova Dilnoza;Navoiy filiali;800000,50;0,00;2000000,00;0,00;2800000,50;5;1"
    assert len(lines) == 6  # header, four lines, totals
