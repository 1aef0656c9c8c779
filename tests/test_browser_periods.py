"""In a real browser: an accountant closes November over a not-ready list (confirming it), in Uzbek; then,
in Russian, reopens it with a reason, closes it again and downloads the payroll register.

Figures come from the hand-checked table in tests/fixtures/people.py.
"""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook

from payroll.models import MonthlySales, PayrollPeriod, PeriodTransition
from sync.engine import history
from sync.models import SyncRun
from tests.fixtures.browser import download, login, screenshot
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_accountant_closes_reopens_and_recloses_november_in_uz_and_ru(  # noqa: ANN201
    browser_page, accountant, november_sales, monkeypatch,  # noqa: ANN001
):
    monkeypatch.setattr(history, "today", lambda: date(2026, 12, 2))
    history.totals_recompute()
    SyncRun.objects.create(trigger="user", date_from=date(2026, 11, 5), date_to=date(2026, 11, 5),
                           status=SyncRun.Status.FAILED)
    page = browser_page
    login(page, "buxgalter", PASSWORD)

    with page.expect_navigation():
        page.locator("#regos-reports").get_by_text("Ish haqi davrlari").click()
    assert page.locator("h1").inner_text() == "Ish haqi davrlari"
    with page.expect_navigation():
        page.click("#period-2026-11 a.regos-period-close")
    assert page.locator("h1").inner_text() == "2026-11 ni yopish"
    # The readiness list: the failed run of 5 November, with a link to it.
    problem = page.locator("#period-readiness .regos-readiness-failed_run")
    assert "2026-11-05" in problem.inner_text() and problem.locator("a").count() == 1
    # Closing without the confirmation is refused, with the reason in Uzbek.
    with page.expect_navigation():
        page.click("#period-close-submit")
    assert "Oy tayyor emas" in page.locator("#period-close-form").inner_text()
    assert not PayrollPeriod.objects.filter(status="closed").exists()
    page.check("#id_confirm")
    page.fill("#id_note", "5-dekabrda to'landi")
    screenshot(page, "period-close-uz")
    with page.expect_navigation():
        page.click("#period-close-submit")
    assert page.locator("#period-2026-11 .regos-period-status").inner_text() == "yopilgan"
    assert "2026-11 yopildi." in page.locator(".messagelist").inner_text()
    assert set(MonthlySales.objects.filter(month="2026-11").values_list("closed", flat=True)) == {True}

    # In Russian: reopen (a reason is required), then close again.
    with page.expect_navigation():
        page.click(".regos-language button[value=ru]")
    assert page.locator("h1").inner_text() == "Расчётные периоды"
    with page.expect_navigation():
        page.click("#period-2026-11 a.regos-period-reopen")
    assert page.locator("h1").inner_text() == "Открыть 2026-11 снова"
    page.fill("#id_reason", "Поздний возврат от 11 ноября")
    with page.expect_navigation():
        page.click("#period-reopen-submit")
    assert page.locator("#period-2026-11 .regos-period-status").inner_text() == "открыт"
    assert "2026-11 снова открыт." in page.locator(".messagelist").inner_text()
    with page.expect_navigation():
        page.click("#period-2026-11 a.regos-period-close")
    page.check("#id_confirm")
    with page.expect_navigation():
        page.click("#period-close-submit")
    assert page.locator("#period-2026-11 .regos-period-status").inner_text() == "закрыт"
    assert page.locator("#period-transitions tbody tr").count() == 3
    screenshot(page, "periods-ru")
    audit = list(PeriodTransition.objects.order_by("at").values_list("action", "reason"))
    assert audit == [("close", "5-dekabrda to'landi"), ("reopen", "Поздний возврат от 11 ноября"), ("close", "")]

    name, content = download(page, "#period-2026-11 a.regos-period-export")
    assert name == "payroll-register_2026-11.xlsx"
    book = load_workbook(io.BytesIO(content), read_only=True)
    employees = [list(row) for row in book.worksheets[1].iter_rows(values_only=True)]
    assert employees[0][0] == "Сотрудник"
    # Aziz in November: 1400000.00 + 900000.25 net.
    assert next(row for row in employees if row[0] == "Toshmatov Aziz")[5] == 2300000.25
