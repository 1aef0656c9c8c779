"""Real browser (Playwright + Debian's Chromium), issue 18: a new admin's first hour. The first sync
succeeds but counts nothing; the run page says how much waits for mapping; "Map in bulk" → "Match by
name" previews the namesakes; Apply maps them in one POST and the history appears. Screenshots go to
tests/artifacts/ (git-ignored). The worker is the in-process django-q2 of tests/test_browser_sync.py.

Expected (by hand): yesterday (Tashkent), REGOS stock 1 "Navoiy filiali": cheque 150000.00 sold by REGOS
user 17 "Toshmatov Aziz"; stock 3 "Yangi do'kon": cheque 42000.00 by user 33 "Yusupova Nodira". Nothing
is mapped: 2 documents, 192000.00 UZS wait. Our branches "NAVOIY  FILIALI" and "Yangi doʻkon" (U+02BB)
and employee "toshmatov aziz" are their namesakes; Nodira has none. After applying: NAVOIY FILIALI /
toshmatov aziz 150000.00 (1 cheque) and Yangi doʻkon / unassigned 42000.00 (1 cheque); 1 document,
42000.00 UZS still waits (Nodira).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import translation
from playwright.sync_api import expect

from payroll.admin import money
from payroll.dates import today
from payroll.models import Branch, DailySalesHistory, Employee
from sync.models import SyncRun
from sync.regos.emulator import Dataset
from tests.fixtures.browser import login, screenshot
from tests.sync_data import AZIZ, NODIRA, add_references
from tests.test_browser_sync import at, background_worker  # noqa: F401 — the in-process worker fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 60_000


def backlog_text(documents: int, amount: str, language: str) -> str:
    with translation.override(language):
        return translation.ngettext(
            "%(count)s document (%(amount)s UZS) waits for mapping.",
            "%(count)s documents (%(amount)s UZS) wait for mapping.",
            documents,
        ) % {"count": documents, "amount": money(Decimal(amount))}


def label(text: str, language: str) -> str:
    with translation.override(language):
        return str(translation.gettext(text))


@pytest.fixture
def first_day(regos_server, settings):
    settings.REGOS_LOOKBACK_DAYS = 2
    yesterday = today() - timedelta(days=1)
    ds = Dataset()
    add_references(ds)
    ds.add_session(uuid="s-nav", operating_cash_id=100, start=at(yesterday, 8), close=at(yesterday, 21))
    ds.add_session(uuid="s-new", operating_cash_id=300, start=at(yesterday, 9), close=at(yesterday, 20))
    ds.add_cheque(uuid="c-nav", date=at(yesterday, 10), session="s-nav", amount=Decimal("150000.00"),
                  seller_id=AZIZ)
    ds.add_cheque(uuid="c-new", date=at(yesterday, 11), session="s-new", amount=Decimal("42000.00"),
                  seller_id=NODIRA)
    regos_server(ds)
    Branch.objects.create(name="NAVOIY  FILIALI")
    Branch.objects.create(name="Yangi doʻkon")
    Employee.objects.create(full_name="toshmatov aziz")
    return yesterday


def test_first_sync_then_match_by_name_in_bulk(admin_user, first_day, background_worker, browser_page):  # noqa: F811
    page = browser_page
    page.set_default_timeout(TIMEOUT_MS)
    login(page, "admin", "admin-pass-123")

    page.goto("/sync/now/")
    background_worker.set()
    page.get_by_test_id("sync-now").click()
    page.wait_for_url("**/sync/runs/*/")
    language = page.locator("html").get_attribute("lang") or "uz"
    expect(page.get_by_test_id("run-status")).to_have_text(label("succeeded", language), timeout=TIMEOUT_MS)
    assert SyncRun.objects.get().history_rows_written == 0
    backlog = page.get_by_test_id("mapping-backlog")
    expect(backlog).to_contain_text(backlog_text(2, "192000.00", language))
    screenshot(page, "onboarding_run_waits_for_mapping")

    page.goto("/")
    expect(page.get_by_test_id("mapping-backlog")).to_contain_text(backlog_text(2, "192000.00", language))

    page.goto("/sync/mappings/")
    page.get_by_test_id("bulk-tab").click()
    preview = page.get_by_test_id("bulk-preview")
    expect(preview.locator("#bulk-stock-1")).to_contain_text("NAVOIY  FILIALI")
    expect(preview.locator("#bulk-stock-3")).to_contain_text("Yangi doʻkon")
    expect(preview.locator("#bulk-user-17")).to_contain_text("toshmatov aziz")
    assert preview.locator(f"#bulk-user-{NODIRA}").count() == 0
    assert not DailySalesHistory.objects.exists()  # a preview writes nothing
    screenshot(page, "onboarding_bulk_preview")

    page.get_by_test_id("bulk-apply").click()
    page.wait_for_url("**/sync/mappings/")
    expect(page.locator(".messagelist .success")).to_be_visible()
    screenshot(page, "onboarding_bulk_applied")
    got = {
        (r.date, r.branch.name, r.employee.full_name if r.employee else "", r.total_sales, r.cheque_count)
        for r in DailySalesHistory.objects.select_related("branch", "employee")
    }
    assert got == {
        (first_day, "NAVOIY  FILIALI", "toshmatov aziz", Decimal("150000.00"), 1),
        (first_day, "Yangi doʻkon", "", Decimal("42000.00"), 1),
    }
    page.goto("/")
    expect(page.get_by_test_id("mapping-backlog")).to_contain_text(backlog_text(1, "42000.00", language))
