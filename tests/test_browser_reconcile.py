"""Real browser (Playwright + Debian's Chromium), in Uzbek and in Russian: an admin starts a reconciliation
of October 2026 from the panel, watches the queued run page refresh itself to its result, sees register
100 ✘ with the day bisection pinned (Oct 20), and follows that day to our documents; an accountant
views the same run but gets no form to start one.

The data and every expected figure are tests/test_reconcile.py's (hand-worked there); our fact of
cheque b2 (Oct 20, register 100, 15 000.00) is deleted after the sync, so register 100 differs by
−1 cheque / −15 000.00, on Oct 20 only. The worker: ``reconciliation_run_enqueue`` is replaced by a
thread that runs the real task once the test releases it (so the page is seen queued first).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.db import connections
from django.utils import translation
from playwright.sync_api import expect

from sync import services, tasks
from sync.models import ReconciliationRun, SalesFact, SyncRun
from tests.fixtures.browser import login, screenshot
from tests.fixtures.people import PASSWORD
from tests.test_reconcile import FIRST, LAST, october

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 60_000


def money(value: str, language: str) -> str:
    """An amount as the page shows it in ``language`` (Django's own localized ``floatformat:"2g"``)."""
    from decimal import Decimal

    from django.template.defaultfilters import floatformat

    with translation.override(language):
        return str(floatformat(Decimal(value), "2g"))


def label(text: str, language: str) -> str:
    with translation.override(language):
        return str(translation.gettext(text))


@pytest.fixture
def synced_october(regos_server, cast) -> None:  # type: ignore[no-untyped-def]
    regos_server(october())
    run = services.sync_range(date_from=FIRST, date_to=LAST)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    SalesFact.objects.filter(regos_id="b2").delete()


@pytest.fixture
def background_worker(monkeypatch) -> Iterator[threading.Event]:  # type: ignore[no-untyped-def]
    threads: list[threading.Thread] = []
    release = threading.Event()

    def work(run: ReconciliationRun) -> None:
        try:
            if release.wait(timeout=120):
                tasks.reconciliation_run_task(str(run.pk))
        finally:
            connections.close_all()

    def enqueue_in_background(*, run: ReconciliationRun) -> None:
        thread = threading.Thread(target=work, args=(run,), daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(services, "reconciliation_run_enqueue", enqueue_in_background)
    monkeypatch.setattr("sync.views.worker_alive", lambda: True)
    yield release
    release.set()
    for thread in threads:
        thread.join(timeout=60)


@pytest.mark.parametrize(("browser_locale", "language"), [("uz-UZ", "uz"), ("ru-RU", "ru")])
def test_admin_reconciles_october_and_drills_down_to_the_day(
    synced_october, background_worker, browser_locale, language, request
) -> None:  # type: ignore[no-untyped-def]
    admin, accountant = request.getfixturevalue("group_admin"), request.getfixturevalue("accountant")
    page = request.getfixturevalue("browser_page")  # after the data (see tests/fixtures/browser.py)
    page.set_default_timeout(TIMEOUT_MS)
    login(page, admin.get_username(), PASSWORD)

    page.goto("/sync/reconciliation/")
    assert page.locator("html").get_attribute("lang") == language
    expect(page.locator("h1").first).to_have_text(label("Reconciliation with REGOS", language))
    page.fill("#id_date_from", FIRST.isoformat())
    page.fill("#id_date_to", LAST.isoformat())
    screenshot(page, f"reconcile_form_{language}")
    page.get_by_test_id("reconcile-start").click()
    page.wait_for_url("**/sync/reconciliation/*/")
    status = page.get_by_test_id("reconcile-status")
    expect(status).to_have_text(label("queued", language))
    assert page.locator(".messagelist .success").inner_text() == label("Reconciliation started.", language)

    background_worker.set()  # the worker runs it; the page refreshes itself to the result
    expect(status).to_have_text(label("succeeded", language), timeout=TIMEOUT_MS)
    register = page.get_by_test_id("reconcile-register-100")
    expect(register).to_contain_text("✘")
    expect(register).to_contain_text(f"-1 / {money('-15000.00', language)}")
    expect(page.get_by_test_id("reconcile-register-200")).to_contain_text("✔")
    day = page.get_by_test_id("reconcile-register-100-2026-10-20")
    zero = money("0.00", language)
    expect(day).to_contain_text(f"1 / 0; {money('30000.00', language)} / {zero}")
    expect(day).to_contain_text(f"2 / 0; {money('45000.00', language)} / {zero}")
    screenshot(page, f"reconcile_run_{language}")
    run = ReconciliationRun.objects.get()
    assert (run.requests_made, run.differences, run.requested_by_id) == (19, 1, admin.pk)

    day.locator("a").first.click()  # our documents of register 100 on Oct 20: only b1 is left
    page.wait_for_url("**/sync/salesfact/**")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("b1")
    screenshot(page, f"reconcile_drilldown_{language}")

    page.context.clear_cookies()
    login(page, accountant.get_username(), PASSWORD)
    page.goto("/sync/reconciliation/")
    assert page.get_by_test_id("reconcile-form").count() == 0
    page.goto(f"/sync/reconciliation/{run.pk}/")
    expect(page.get_by_test_id("reconcile-register-100")).to_contain_text("✘")
