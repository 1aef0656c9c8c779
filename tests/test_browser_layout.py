"""In a real browser: the main pages fit the screen at 1366×900, 1920×1080 and a 390×844 phone (tables
scroll inside their own box, the page never sideways), and an Uzbek reader meets no English on them —
Django admin, auth and django-q2 pages included.

Figures and names come from tests/fixtures/people.py (November 2026). Screenshots land in
tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django_q.models import Failure, Success

from sync.models import SyncRun
from tests.fixtures.browser import login, screenshot
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"laptop": (1366, 900), "desktop": (1920, 1080), "phone": (390, 844)}

HISTORY = "/reports/history/?date_from=2026-11-01&date_to=2026-11-30"
PAGES = {
    "home": "/",
    "history": HISTORY,
    "summary": "/reports/summary/?month=2026-11",
    "sync-runs": "/sync/syncrun/",
    "sync-now": "/sync/now/",
    "mappings": "/sync/mappings/",
}
ADMIN_PAGES = {
    "users": "/auth/user/",
    "groups": "/auth/group/",
    "q-success": "/django_q/success/",
    "q-failure": "/django_q/failure/",
    "q-schedule": "/django_q/schedule/",
    "q-queued": "/django_q/ormq/",
}

# English a uz reader met before issue 18 (Django admin/auth, django-q2, our own column headers), matched
# as whole words in the page's visible text. Kept short on purpose: words that are also Uzbek or names
# (REGOS, CSV, XLSX, Cron) are not on it.
ENGLISH = [
    "Username", "Password", "Select", "to view", "to change", "By ", "Go", "Show counts", "Hide counts",
    "Start typing to filter", "Groups", "Users", "Successful tasks", "Failed tasks", "Scheduled tasks",
    "Queued tasks", "Changed:", "Added:", "UPDATED", "Updated", "CREATED", "Created", "Recent actions",
    "Log in", "Log out", "Search", "Filter", "Home", "All", "None", "Yes", "No", "Save", "Delete", "History",
    "Sync now", "Net total", "Branch", "Employee", "Date", "Name", "Status", "Action", "selected",
]


def english_on(text: str) -> list[str]:
    return [word for word in ENGLISH if re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", text)]


def test_the_english_list_catches_english() -> None:
    """The counter-check: the detector finds what it is meant to find, and lets Uzbek through."""
    assert english_on("Select user to view\nGo") == ["Select", "to view", "Go"]
    assert english_on("Koʻrish uchun tanlang: foydalanuvchi · Bajarish · REGOS · CSV") == []


@pytest.fixture
def superuser(db):  # type: ignore[no-untyped-def]
    return get_user_model().objects.create_superuser("bosh", "bosh@example.com", PASSWORD)


@pytest.fixture
def runs_and_tasks(db):  # type: ignore[no-untyped-def]
    SyncRun.objects.create(
        trigger=SyncRun.Trigger.SCHEDULE, date_from=date(2026, 11, 20), date_to=date(2026, 11, 22),
        days_total=3, status=SyncRun.Status.SUCCEEDED,
    )
    from django.utils import timezone

    now = timezone.now()
    for model in (Success, Failure):
        model.objects.create(
            id=f"{model.__name__.lower():0<32}", name="sync-daily", func="sync.tasks.run_sync_task",
            started=now, stopped=now, success=model is Success, result="ok" if model is Success else "REGOS: 503",
        )


def page_width_problem(page) -> str | None:  # type: ignore[no-untyped-def]
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    if widths[0] > widths[1]:
        wide = page.evaluate(
            """() => { const w = document.documentElement.clientWidth;
                const out = [];
                const walk = (e) => { for (const c of e.children) {
                  if (c.getBoundingClientRect().right > w + 1) out.push(c.tagName + '#' + c.id + '.' + c.className);
                  if (getComputedStyle(c).overflowX === 'visible') walk(c); } };
                walk(document.body); return out.slice(-5); }"""
        )
        return f"scrollWidth {widths[0]} > clientWidth {widths[1]}; too wide: {wide}"
    return None


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_main_pages_never_scroll_sideways(browser_page, superuser, november_sales, runs_and_tasks, viewport) -> None:  # noqa: ANN001
    page = browser_page
    width, height = VIEWPORTS[viewport]
    page.set_viewport_size({"width": width, "height": height})
    page.goto("/login/")
    assert page_width_problem(page) is None, "login"
    screenshot(page, f"layout-{viewport}-login-uz")
    login(page, "bosh", PASSWORD)
    problems = []
    for language in ("uz", "ru", "en"):
        page.goto("/")
        if page.locator("html").get_attribute("lang") != language:
            with page.expect_navigation():
                page.click(f".regos-language button[value={language}]")
        for name, url in {**PAGES, "users": "/auth/user/"}.items():
            page.goto(url)
            assert page.locator("html").get_attribute("lang") == language
            problem = page_width_problem(page)
            if problem:
                problems.append(f"{language} {name}: {problem}")
            if name == "sync-runs" and viewport != "phone":
                # Every column of the runs list is on screen: its own box does not scroll either.
                box = page.evaluate("() => { const r = document.querySelector('#changelist .results');"
                                    " return [r.scrollWidth, r.clientWidth]; }")
                if box[0] > box[1]:
                    problems.append(f"{language} sync-runs: the list scrolls inside its box {box}")
            if name == "home":  # the Sync now box is laid out (its stylesheet is on the index too)
                assert page.locator("#sync-now-box .sync-fields").evaluate("e => getComputedStyle(e).display") == "flex"
            if language == "uz" or viewport == "laptop":
                screenshot(page, f"layout-{viewport}-{name}-{language}")
    assert not problems, "\n".join(problems)


def test_uzbek_pages_have_no_english(browser_page, superuser, november_sales, runs_and_tasks) -> None:  # noqa: ANN001
    page = browser_page
    page.goto("/login/")
    found = {"login": english_on(page.inner_text("body"))}
    login(page, "bosh", PASSWORD)
    for name, url in {**PAGES, **ADMIN_PAGES}.items():
        page.goto(url)
        assert page.locator("html").get_attribute("lang") == "uz"
        found[name] = english_on(page.inner_text("body"))
        screenshot(page, f"uz-{name}")
    # An admin list with its filters open shows "By …" and "Show counts".
    page.goto("/sync/syncrun/?_facets=True")
    found["sync-runs-facets"] = english_on(page.inner_text("body"))
    assert {name: words for name, words in found.items() if words} == {}
