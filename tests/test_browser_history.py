"""In a real browser: an accountant reads the sales history, exports it, switches to Russian.

Figures come from the hand-checked table in tests/fixtures/people.py. Screenshots land in
tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import pytest

from tests.fixtures.browser import download, login, screenshot
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NBSP = "\xa0"

# The Navoiy rows of November, typed from the fixture table (not produced by the code).
NAVOIY_CSV = (
    "date,branch,employee,retail_sales,retail_returns,wholesale_sales,wholesale_returns,total_sales,cheque_count\n"
    "2026-11-02,Navoiy filiali,Karimova Dilnoza,800000.50,0.00,2000000.00,0.00,2800000.50,5\n"
    "2026-11-02,Navoiy filiali,Toshmatov Aziz,1500000.00,100000.00,0.00,0.00,1400000.00,12\n"
    "2026-11-03,Navoiy filiali,,99999.75,0.00,0.00,0.00,99999.75,1\n"
    "2026-11-03,Navoiy filiali,Toshmatov Aziz,1200000.25,0.00,0.00,300000.00,900000.25,9\n"
)


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
    assert name == "sales_2026-11-01_2026-11-30.csv"
    assert content.decode("utf-8") == NAVOIY_CSV

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

    # The CSV does not follow the language.
    _name, content = download(page, "a.regos-export-csv")
    assert content.decode("utf-8") == NAVOIY_CSV

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
