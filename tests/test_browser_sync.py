"""Real browser (Playwright + Debian's Chromium): an admin presses Sync now against the REGOS emulator and
watches the run page reach "succeeded"; maps an unmapped store in one click; an accountant sees no Sync
now button. Screenshots go to tests/artifacts/ (git-ignored).

The worker: ``sync_run_enqueue`` hands the run to django-q2 with ``Conf.SYNC = True`` (the task runs
in-process, exactly as a worker runs it) from a background thread, so the run page really goes through
queued/running → succeeded and refreshes itself. The live server's test database is the file SQLite
database of tests/fixtures/database.py (or MongoDB), shared by the live server's threads.

Expected figures (by hand): yesterday (Tashkent), Navoiy till: cheque 150000.00 sold by Aziz (REGOS
user 17) → Navoiy / Toshmatov Aziz 150000.00, 1 cheque. Yangi do'kon till (REGOS stock 3, not mapped):
cheque 42000.00 by user 33 (not mapped) → nothing in history until the stock is mapped; after "Create
branch from it": Yangi do'kon / unassigned 42000.00, 1 cheque.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone, translation
from playwright.sync_api import expect

from payroll.dates import TASHKENT, today
from payroll.models import DailySalesHistory
from sync import services
from sync.models import StockMapping, SyncRun
from sync.regos.emulator import Dataset
from tests.fixtures.browser import login, screenshot
from tests.sync_data import AZIZ, NODIRA, YANGI, add_references, map_cast
from tests.sync_now_support import PASSWORD, make_role_user

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 60_000


def label(text: str, language: str) -> str:
    with translation.override(language):
        return str(translation.gettext(text))


# --- the world -----------------------------------------------------------------------------------


def at(day, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=TASHKENT)


@pytest.fixture
def world(regos_server, navoiy, gijduvon, aziz, dilnoza, bobur, settings):
    settings.REGOS_LOOKBACK_DAYS = 3
    yesterday = today() - timedelta(days=1)
    ds = Dataset()
    add_references(ds)
    ds.add_session(uuid="s-nav", operating_cash_id=100, start=at(yesterday, 8), close=at(yesterday, 21))
    ds.add_session(uuid="s-new", operating_cash_id=300, start=at(yesterday, 9), close=at(yesterday, 20))
    ds.add_cheque(
        uuid="c-nav", date=at(yesterday, 10), session="s-nav", amount=Decimal("150000.00"), seller_id=AZIZ
    )
    ds.add_cheque(
        uuid="c-new", date=at(yesterday, 11), session="s-new", amount=Decimal("42000.00"), seller_id=NODIRA
    )
    regos_server(ds)
    map_cast(navoiy=navoiy, gijduvon=gijduvon, aziz=aziz, dilnoza=dilnoza, bobur=bobur)
    return yesterday


@pytest.fixture
def background_worker(monkeypatch) -> Iterator[threading.Event]:
    """sync_run_enqueue → the real django-q2 task, run in-process (Conf.SYNC) from a thread once the
    test sets the returned event (so the test sees the run queued first, without any timing)."""
    from django_q.conf import Conf

    from sync.inbox import kv_set, stamp
    from sync.schedule import HEARTBEAT_KEY

    monkeypatch.setattr(Conf, "SYNC", True)
    enqueue = services.sync_run_enqueue
    threads: list[threading.Thread] = []
    release = threading.Event()

    def work(run: SyncRun) -> None:
        try:
            if release.wait(timeout=120):
                enqueue(run=run)
        finally:
            connections.close_all()

    def enqueue_in_background(*, run: SyncRun) -> None:
        thread = threading.Thread(target=work, args=(run,), daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(services, "sync_run_enqueue", enqueue_in_background)
    kv_set(HEARTBEAT_KEY, stamp(timezone.now()))  # what a live worker writes every minute
    yield release
    release.set()
    for thread in threads:
        thread.join(timeout=60)


# --- the tests -----------------------------------------------------------------------------------


def test_admin_syncs_now_and_watches_the_run_succeed(
    admin_user, aziz, world, background_worker, browser_page
):
    page = browser_page
    page.set_default_timeout(TIMEOUT_MS)
    login(page, "admin", "admin-pass-123")

    page.goto("/sync/syncrun/")
    box = page.locator("#sync-now-box")
    assert box.is_visible()
    # The default range is the lookback window ending today in Tashkent.
    assert page.input_value("#id_date_from") == (today() - timedelta(days=2)).isoformat()
    assert page.input_value("#id_date_to") == today().isoformat()
    screenshot(page, "sync_runs_list_with_sync_now")

    page.get_by_test_id("sync-now").click()
    page.wait_for_url("**/sync/runs/*/")
    language = page.locator("html").get_attribute("lang")
    assert language == "uz"
    status = page.get_by_test_id("run-status")
    # The worker has not taken the run yet: queued, and the page says it refreshes itself.
    expect(status).to_have_text(label("queued", language))
    assert page.locator(".messagelist .success").inner_text() == label("Sync started.", language)
    assert page.get_by_test_id("no-worker").count() == 0
    screenshot(page, "sync_run_queued")

    background_worker.set()  # the worker takes it; the page follows it without a manual reload
    expect(status).to_have_text(label("succeeded", language), timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("documents")).to_have_text("2")
    assert page.locator(".sync-progress-bar").get_attribute("style") == "width: 100%"
    screenshot(page, "sync_run_succeeded")

    run = SyncRun.objects.get()
    assert (run.status, run.trigger, run.triggered_by_id, run.days_done, run.days_total) == (
        "succeeded",
        "user",
        admin_user.pk,
        3,
        3,
    )
    rows = {
        (r.date, r.branch.name, r.employee.full_name if r.employee else "", r.total_sales, r.cheque_count)
        for r in DailySalesHistory.objects.select_related("branch", "employee")
    }
    assert rows == {(world, "Navoiy filiali", "Toshmatov Aziz", Decimal("150000.00"), 1)}

    # The store without a branch waits in "Unmapped"; one click creates its branch and counts its sales.
    page.goto("/sync/mappings/unmapped/")
    assert page.locator(f"#unmapped-stock-{YANGI}").is_visible()
    screenshot(page, "sync_unmapped")
    page.get_by_test_id(f"create-branch-{YANGI}").click()
    page.wait_for_load_state()
    expect(page.locator(".messagelist .success")).to_contain_text("1")
    screenshot(page, "sync_unmapped_after_mapping")
    assert StockMapping.objects.get(regos_stock_id=YANGI).branch.name == "Yangi do'kon"
    rows = {
        (r.branch.name, r.employee_id, r.total_sales, r.cheque_count)
        for r in DailySalesHistory.objects.select_related("branch").filter(date=world)
    }
    assert rows == {
        ("Navoiy filiali", aziz.pk, Decimal("150000.00"), 1),
        ("Yangi do'kon", None, Decimal("42000.00"), 1),
    }

    page.goto("/sync/mappings/")
    screenshot(page, "sync_mappings")


def test_an_accountant_sees_no_sync_now_button(db, request) -> None:
    make_role_user("hisobchi", role="accountant")
    SyncRun.objects.create(
        trigger="schedule",
        date_from=today(),
        date_to=today(),
        days_total=1,
        status="failed",
        error="DocCheque/Get: REGOS refused the integration key (HTTP 401)",
        error_hint="Check REGOS_INTEGRATION_KEY.",
    )
    page = request.getfixturevalue("browser_page")  # after the data (see tests/fixtures/browser.py)
    login(page, "hisobchi", PASSWORD)

    page.goto("/")
    assert page.get_by_test_id("sync-now").count() == 0
    page.goto("/sync/syncrun/")
    assert page.locator("#result_list").is_visible()
    assert page.get_by_test_id("sync-now").count() == 0
    screenshot(page, "sync_runs_list_accountant")

    run = SyncRun.objects.get()
    page.goto(f"/sync/runs/{run.pk}/")
    # One line in the reader's language; the technical text folded below it until opened.
    expect(page.get_by_test_id("run-cause")).to_have_text(label("REGOS refused the integration key", "uz"))
    assert not page.get_by_test_id("run-error").is_visible()
    page.locator(".sync-error-details summary").click()
    expect(page.get_by_test_id("run-error")).to_have_text("DocCheque/Get: REGOS refused the integration key (HTTP 401)")
    assert page.get_by_test_id("retry").count() == 0
    response = page.goto("/sync/now/")
    assert response is not None and response.status == 403


def test_the_home_page_shows_the_status_and_a_dead_worker_is_reported_within_a_minute(
    admin_user, monkeypatch, browser_page
):
    """Issue 18: the home page's Sync status box, then Sync now with no worker at all: the run page
    (polling its status.json) says "No worker has picked this run up" once it waited over a minute.
    Time is moved, not waited for: time-machine shifts the live server's clock by 61 s."""
    import time_machine

    from sync.inbox import kv_set, stamp
    from sync.models import KeyValue
    from sync.schedule import HEARTBEAT_KEY

    page = browser_page
    page.set_default_timeout(TIMEOUT_MS)
    now = timezone.now()
    day = now.astimezone(TASHKENT).date()
    SyncRun.objects.create(trigger="schedule", status="succeeded", date_from=day - timedelta(days=3),
                           date_to=day - timedelta(days=1), started_at=now - timedelta(hours=3, minutes=5),
                           finished_at=now - timedelta(hours=3))
    kv_set(HEARTBEAT_KEY, stamp(now - timedelta(seconds=20)))
    login(page, "admin", "admin-pass-123")
    status_box = page.get_by_test_id("regos-status")
    expect(status_box).to_be_visible()
    expect(page.get_by_test_id("worker-alive")).to_be_visible()
    assert "3" in page.get_by_test_id("status-last-success").inner_text()  # "3 soat oldin" (3 hours ago)
    screenshot(page, "home_status_worker_running")

    # The worker is gone: no heartbeat, and nothing takes queued runs.
    KeyValue.objects.filter(key=HEARTBEAT_KEY).delete()
    monkeypatch.setattr(services, "sync_run_enqueue", lambda *, run: None)
    with time_machine.travel(timezone.now(), tick=True) as clock:
        page.goto("/")
        expect(page.get_by_test_id("worker-dead")).to_be_visible()
        screenshot(page, "home_status_worker_dead")
        page.get_by_test_id("sync-now").click()
        page.wait_for_url("**/sync/runs/*/")
        expect(page.get_by_test_id("run-status")).to_have_text(label("queued", "uz"))
        assert page.get_by_test_id("run-no-worker").count() == 0
        clock.shift(timedelta(seconds=61))
        warning = page.get_by_test_id("run-no-worker")
        expect(warning).to_be_visible(timeout=TIMEOUT_MS)  # the page reloads itself on the new stamp
        assert "systemctl start regos-admin-worker" in warning.inner_text()
        screenshot(page, "sync_run_no_worker")
