"""Sync now, the run page, its status.json and Retry, through the Django test client.

The engine is not run here: ``sync_run_enqueue`` is replaced by a recorder (``enqueued``), so these
tests see exactly what the panel asks the services for. Runs that finished are written by hand.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from sync import services
from sync.models import SyncRun
from tests.sync_now_support import make_role_user

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Tashkent")
NOW = datetime(2026, 11, 24, 10, 30, tzinfo=TZ)  # "today" in Tashkent is 2026-11-24
SYNC_NOW = reverse("sync_panel:sync_now")


@pytest.fixture(autouse=True)
def frozen(settings):
    settings.REGOS_LOOKBACK_DAYS = 3
    settings.REGOS_SYNC_MAX_DAYS = 366
    settings.LANGUAGE_CODE = "en"
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def enqueued(monkeypatch) -> list[SyncRun]:
    calls: list[SyncRun] = []
    monkeypatch.setattr(services, "sync_run_enqueue", lambda *, run: calls.append(run))
    return calls


@pytest.fixture
def worker(monkeypatch):
    """Whether the panel believes a worker is running (default: yes)."""
    state = {"alive": True}
    monkeypatch.setattr("sync.views.worker_alive", lambda: state["alive"])
    return state


@pytest.fixture
def admin_client(admin_user, worker) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(admin_user)
    return client


@pytest.fixture
def syncer_client(db, worker) -> Client:
    """A staff user who is not a superuser but holds sync.run_sync and view_syncrun."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(make_role_user("operator", ["sync.run_sync", "sync.view_syncrun"]))
    return client


@pytest.fixture
def accountant_client(db, worker) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(make_role_user("hisobchi", role="accountant"))
    return client


def run_of(**fields) -> SyncRun:
    values = {
        "trigger": SyncRun.Trigger.SCHEDULE,
        "date_from": date(2026, 11, 20),
        "date_to": date(2026, 11, 22),
        "days_total": 3,
    }
    values.update(fields)
    return SyncRun.objects.create(**values)


def post_sync(client: Client, date_from: str, date_to: str, **extra: str):
    return client.post(SYNC_NOW, {"date_from": date_from, "date_to": date_to, **extra})


# --- login and permissions -----------------------------------------------------------------------


def test_anonymous_is_sent_to_the_login_page(client) -> None:
    run = run_of()
    for url in (
        SYNC_NOW,
        reverse("sync_panel:run", args=[run.pk]),
        reverse("sync_panel:run_status", args=[run.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    response = post_sync(client, "2026-11-22", "2026-11-24")
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert SyncRun.objects.count() == 1


def test_a_non_staff_user_is_sent_to_the_login_page(client, enqueued) -> None:
    client.force_login(make_role_user("kassir", ["sync.run_sync"], staff=False))
    response = post_sync(client, "2026-11-22", "2026-11-24")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert not SyncRun.objects.exists()
    assert enqueued == []


def test_an_accountant_gets_403_on_sync_now_and_retry(accountant_client, enqueued) -> None:
    failed = run_of(status=SyncRun.Status.FAILED)
    assert accountant_client.get(SYNC_NOW).status_code == 403
    assert post_sync(accountant_client, "2026-11-22", "2026-11-24").status_code == 403
    assert accountant_client.post(reverse("sync_panel:run_retry", args=[failed.pk])).status_code == 403
    assert SyncRun.objects.count() == 1
    assert enqueued == []


def test_an_accountant_may_read_a_run_but_sees_no_retry(accountant_client) -> None:
    failed = run_of(status=SyncRun.Status.FAILED, error="REGOS key rejected", error_hint="check the key")
    page = accountant_client.get(reverse("sync_panel:run", args=[failed.pk]))
    assert page.status_code == 200
    assert "REGOS key rejected" in page.content.decode()
    assert 'data-testid="retry"' not in page.content.decode()
    assert accountant_client.get(reverse("sync_panel:run_status", args=[failed.pk])).status_code == 200


def test_sync_now_needs_the_csrf_token(admin_user, enqueued) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert post_sync(client, "2026-11-22", "2026-11-24").status_code == 403
    assert not SyncRun.objects.exists()


def test_sync_now_answers_get_and_post_only(admin_client) -> None:
    assert admin_client.put(SYNC_NOW).status_code == 405
    assert admin_client.get(reverse("sync_panel:run_retry", args=[run_of().pk])).status_code == 405


# --- the form ------------------------------------------------------------------------------------


def test_the_form_defaults_to_the_lookback_window_ending_today_in_tashkent(admin_client) -> None:
    page = admin_client.get(SYNC_NOW)
    assert page.status_code == 200
    html = page.content.decode()
    # REGOS_LOOKBACK_DAYS = 3, today = 2026-11-24 → 22, 23 and 24 November.
    assert 'name="date_from" value="2026-11-22"' in html
    assert 'name="date_to" value="2026-11-24"' in html
    assert "csrfmiddlewaretoken" in html
    assert "No worker is running" not in html


def test_a_valid_press_creates_a_queued_run_enqueues_it_and_shows_it(
    admin_client, admin_user, enqueued, navoiy
) -> None:
    response = post_sync(admin_client, "2026-11-20", "2026-11-24", branch=str(navoiy.pk))
    run = SyncRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("sync_panel:run", args=[run.pk])
    # A posted branch is ignored: the form offers none (REGOS reads every store's cheques anyway).
    assert (run.trigger, run.triggered_by_id, run.branch_id) == ("user", admin_user.pk, None)
    assert (run.date_from, run.date_to, run.status, run.days_total) == (
        date(2026, 11, 20),
        date(2026, 11, 24),
        "queued",
        5,
    )
    assert enqueued == [run]
    page = admin_client.get(response["Location"])
    assert "Sync started." in page.content.decode()


def test_a_non_superuser_with_run_sync_may_sync(syncer_client, enqueued) -> None:
    response = post_sync(syncer_client, "2026-11-24", "2026-11-24")
    assert response.status_code == 302
    assert SyncRun.objects.get().trigger == "user"
    assert len(enqueued) == 1


def test_pressing_twice_shows_the_run_in_progress(admin_client, enqueued) -> None:
    first = post_sync(admin_client, "2026-11-22", "2026-11-24")
    second = post_sync(admin_client, "2026-11-22", "2026-11-24")
    assert first["Location"] == second["Location"]
    assert SyncRun.objects.count() == 1
    assert len(enqueued) == 1
    page = admin_client.get(second["Location"])
    assert "A sync for an overlapping range is already in progress — showing it." in page.content.decode()


def test_a_press_overlapping_a_scheduled_run_joins_it(admin_client, enqueued) -> None:
    scheduled = run_of(
        trigger=SyncRun.Trigger.SCHEDULE,
        status=SyncRun.Status.RUNNING,
        date_from=date(2026, 11, 22),
        date_to=date(2026, 11, 24),
        started_at=NOW,
        heartbeat_at=NOW,
    )
    response = post_sync(admin_client, "2026-11-24", "2026-11-24")
    assert response["Location"] == reverse("sync_panel:run", args=[scheduled.pk])
    assert SyncRun.objects.count() == 1
    assert enqueued == []


GARBAGE = [
    ("yesterday", "2026-11-24", "Enter a date as YYYY-MM-DD"),
    ("2026-13-45", "2026-11-24", "Enter a date as YYYY-MM-DD"),
    ("2026-11-24'; DROP TABLE sync_syncrun; --", "2026-11-24", "Enter a date as YYYY-MM-DD"),
    ("99999-01-01", "2026-11-24", "Enter a date as YYYY-MM-DD"),
    ("24.11.2026", "2026-11-24", "Enter a date as YYYY-MM-DD"),
    ("2026-11-24", "x" * 5000, "Enter a date as YYYY-MM-DD"),
    ("", "2026-11-24", "This field is required."),
    ("\x00", "2026-11-24", "Enter a date as YYYY-MM-DD"),
]


@pytest.mark.parametrize(("date_from", "date_to", "error"), GARBAGE)
def test_garbage_dates_are_refused_with_a_clear_error(
    admin_client, enqueued, date_from, date_to, error
) -> None:
    response = post_sync(admin_client, date_from, date_to)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not SyncRun.objects.exists()
    assert enqueued == []


@pytest.mark.parametrize(
    ("date_from", "date_to", "error"),
    [
        ("2026-11-24", "2026-11-20", "The end date 2026-11-20 is before the start date 2026-11-24."),
        ("2016-11-25", "2026-11-24", "The range has 3652 days; at most 366 days can be synced at once."),
        ("2025-11-23", "2026-11-24", "The range has 367 days; at most 366 days can be synced at once."),
        (
            "2026-11-24",
            "2026-11-25",
            "The end date 2026-11-25 is in the future (today in Tashkent is 2026-11-24).",
        ),
        ("0001-01-01", "9999-12-31", "at most 366 days can be synced at once."),
    ],
    ids=["reversed", "ten-years", "367-days", "future", "the-whole-calendar"],
)
def test_bad_ranges_are_refused_stating_the_limit(admin_client, enqueued, date_from, date_to, error) -> None:
    response = post_sync(admin_client, date_from, date_to)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not SyncRun.objects.exists()
    assert enqueued == []


def test_the_longest_allowed_range_is_accepted(admin_client, enqueued) -> None:
    # 2025-11-24 .. 2026-11-24 inclusive is 366 days: exactly the limit.
    response = post_sync(admin_client, "2025-11-24", "2026-11-24")
    assert response.status_code == 302
    assert SyncRun.objects.get().days_total == 366


def test_the_form_offers_no_branch_choice(admin_client) -> None:
    # DocCheque/Get cannot filter by stock: a "branch" run read and reported all branches' documents.
    html = admin_client.get(SYNC_NOW).content.decode()
    assert 'name="date_from"' in html
    assert 'name="branch"' not in html
    assert "All branches" not in html


def test_a_posted_branch_value_is_ignored_not_an_error(admin_client, enqueued) -> None:
    response = post_sync(admin_client, "2026-11-24", "2026-11-24", branch="not-a-uuid")
    assert response.status_code == 302
    assert SyncRun.objects.get().branch_id is None


def test_the_limit_follows_the_setting(admin_client, enqueued, settings) -> None:
    settings.REGOS_SYNC_MAX_DAYS = 31
    response = post_sync(admin_client, "2026-10-24", "2026-11-24")
    assert "The range has 32 days; at most 31 days can be synced at once." in response.content.decode()
    assert not SyncRun.objects.exists()


# --- no worker -----------------------------------------------------------------------------------


def test_without_a_worker_the_sync_page_says_so_at_once_and_a_queued_run_after_a_minute(
    admin_client, worker, enqueued
) -> None:
    """The Sync now box warns from the heartbeat alone; the run page once the run waited > 60 s."""
    worker["alive"] = False
    page = admin_client.get(SYNC_NOW).content.decode()
    assert "No worker is running" in page
    # The hint names the way the README deploys, not only the development command.
    assert "systemctl start regos-admin-worker" in page and "make serve" in page and "make worker" in page
    run_url = post_sync(admin_client, "2026-11-24", "2026-11-24")["Location"]
    status_url = run_url + "status.json"
    assert 'data-testid="run-no-worker"' not in admin_client.get(run_url).content.decode()
    first = admin_client.get(status_url).json()
    assert first["no_worker"] is False  # no heartbeat was ever written, but the run was queued just now

    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        html = admin_client.get(run_url).content.decode()
        later = admin_client.get(status_url).json()
    assert 'data-testid="run-no-worker"' in html and "No worker has picked this run up" in html
    assert "systemctl start regos-admin-worker" in html and "make serve" in html
    # The polling script reloads the page when the stamp changes: it must change with the warning.
    assert later["no_worker"] is True and later["stamp"] != first["stamp"]


def test_the_worker_warning_is_not_shown_on_a_finished_run(admin_client, worker) -> None:
    worker["alive"] = False
    done = run_of(status=SyncRun.Status.SUCCEEDED, days_done=3)
    assert (
        "No worker is running"
        not in admin_client.get(reverse("sync_panel:run", args=[done.pk])).content.decode()
    )


# --- the run page --------------------------------------------------------------------------------


def test_a_running_run_shows_its_progress_and_refreshes_itself(admin_client) -> None:
    run = run_of(
        status=SyncRun.Status.RUNNING,
        started_at=NOW - timedelta(seconds=20),
        heartbeat_at=NOW,
        days_done=2,
        requests_made=7,
        rate_limit_waits=1,
        documents_seen=41,
        facts_inserted=38,
        facts_updated=2,
        facts_removed=1,
        history_rows_written=6,
        progress=[
            {"date": "2026-11-20", "status": "done", "documents": 25},
            {"date": "2026-11-21", "status": "done", "documents": 16},
            {"date": "2026-11-22", "status": "running", "documents": 0},
        ],
    )
    html = admin_client.get(reverse("sync_panel:run", args=[run.pk])).content.decode()
    assert "running" in html
    assert "2 of 3 days" in html and "(67%)" in html
    assert 'style="width: 67%"' in html
    assert 'http-equiv="refresh"' in html  # inside <noscript>
    assert "regos_admin/sync.js" in html
    assert reverse("sync_panel:run_status", args=[run.pk]) in html
    for text in ("2026-11-20", "2026-11-21", "2026-11-22", ">25<", ">16<", ">41<", ">38<", ">6<"):
        assert text in html


def test_a_failed_run_shows_its_error_what_to_do_and_retry(admin_client) -> None:
    run = run_of(
        status=SyncRun.Status.FAILED,
        started_at=NOW - timedelta(minutes=2, seconds=5),
        finished_at=NOW,
        error="REGOS key rejected (401).",
        error_hint="Check REGOS_INTEGRATION_KEY.",
    )
    html = admin_client.get(reverse("sync_panel:run", args=[run.pk])).content.decode()
    assert "REGOS key rejected (401)." in html
    assert "What to do next" in html and "Check REGOS_INTEGRATION_KEY." in html
    assert 'data-testid="retry"' in html
    assert "0:02:05" in html  # duration
    assert 'http-equiv="refresh"' not in html


def test_status_json_reports_the_run(admin_client) -> None:
    run = run_of(
        status=SyncRun.Status.RUNNING,
        started_at=NOW,
        heartbeat_at=NOW,
        days_done=1,
        documents_seen=12,
        progress=[{"date": "2026-11-20", "status": "done", "documents": 12}],
    )
    response = admin_client.get(reverse("sync_panel:run_status", args=[run.pk]))
    assert response["Content-Type"] == "application/json"
    data = json.loads(response.content)
    assert data["status"] == "running" and data["active"] is True
    assert (data["days_done"], data["days_total"], data["percent"]) == (1, 3, 33)
    assert data["documents_seen"] == 12
    assert data["progress"] == [{"date": "2026-11-20", "status": "done", "label": "done", "documents": 12}]


def test_an_unknown_run_is_404(admin_client) -> None:
    assert admin_client.get("/sync/runs/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert admin_client.get("/sync/runs/not-a-uuid/").status_code == 404


def test_a_run_with_malformed_progress_still_renders(admin_client) -> None:
    run = run_of(
        status=SyncRun.Status.RUNNING,
        started_at=NOW,
        heartbeat_at=NOW,
        progress=["junk", {"date": "not a date", "status": "done", "documents": "many"}, 7],
    )
    assert admin_client.get(reverse("sync_panel:run", args=[run.pk])).status_code == 200


# --- retry ---------------------------------------------------------------------------------------


def test_retry_starts_a_new_run_for_the_same_range(admin_client, admin_user, enqueued, navoiy) -> None:
    failed = run_of(status=SyncRun.Status.FAILED, branch=navoiy, error="boom")
    response = admin_client.post(reverse("sync_panel:run_retry", args=[failed.pk]))
    retry = SyncRun.objects.exclude(pk=failed.pk).get()
    assert response["Location"] == reverse("sync_panel:run", args=[retry.pk])
    assert (retry.date_from, retry.date_to, retry.branch_id) == (failed.date_from, failed.date_to, navoiy.pk)
    assert (retry.retry_of_id, retry.trigger, retry.triggered_by_id, retry.status) == (
        failed.pk,
        "user",
        admin_user.pk,
        "queued",
    )
    assert enqueued == [retry]
    assert "Retry started." in admin_client.get(response["Location"]).content.decode()


def test_a_partial_run_can_be_retried_and_a_second_press_joins(admin_client, enqueued) -> None:
    partial = run_of(status=SyncRun.Status.PARTIAL)
    url = reverse("sync_panel:run_retry", args=[partial.pk])
    first, second = admin_client.post(url), admin_client.post(url)
    assert first["Location"] == second["Location"]
    assert SyncRun.objects.filter(retry_of=partial).count() == 1
    assert len(enqueued) == 1


def test_a_succeeded_run_is_not_retried(admin_client, enqueued) -> None:
    done = run_of(status=SyncRun.Status.SUCCEEDED)
    response = admin_client.post(reverse("sync_panel:run_retry", args=[done.pk]))
    assert response["Location"] == reverse("sync_panel:run", args=[done.pk])
    assert SyncRun.objects.count() == 1
    assert enqueued == []


# --- the worker check and the index box ----------------------------------------------------------


def test_worker_alive_follows_the_workers_heartbeat(db) -> None:
    from django.utils import timezone

    from sync import views
    from sync.inbox import kv_set, stamp
    from sync.schedule import HEARTBEAT_KEY

    assert views.worker_alive() is False  # never seen
    kv_set(HEARTBEAT_KEY, stamp(timezone.now() - timedelta(seconds=50)))
    assert views.worker_alive() is True
    kv_set(HEARTBEAT_KEY, stamp(timezone.now() - timedelta(minutes=6)))
    assert views.worker_alive() is False  # stopped more than 5 minutes ago


def render_index_box(user, template: str = "sync/_index_sync.html") -> str:  # type: ignore[no-untyped-def]
    from django.middleware.csrf import get_token
    from django.template import loader
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    get_token(request)
    return loader.get_template(template).render({}, request)


def test_the_index_box_offers_sync_now_to_admins_only(admin_user, worker) -> None:
    html = render_index_box(admin_user)
    assert 'data-testid="sync-now"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="date_from" value="2026-11-22"' in html
    assert f'action="{SYNC_NOW}"' in html
    worker["alive"] = False
    assert "No worker is running" in render_index_box(admin_user)
    assert render_index_box(make_role_user("hisobchi", role="accountant")).strip() == ""


def test_the_index_reconciliation_box_is_for_whoever_may_view_reconciliations(admin_user) -> None:  # type: ignore[no-untyped-def]
    accountant = make_role_user("hisobchi", role="accountant")  # views reconciliations, cannot run them
    assert 'data-testid="reconcile-link"' in render_index_box(accountant, "sync/_index_reconcile.html")
    assert 'data-testid="reconcile-link"' in render_index_box(admin_user, "sync/_index_reconcile.html")
    nobody = get_user_model().objects.create_user("nobody", is_staff=True)
    assert render_index_box(nobody, "sync/_index_reconcile.html").strip() == ""


def test_a_refusal_from_the_service_is_shown_on_the_form(admin_client, enqueued, monkeypatch) -> None:
    def refuse(**kwargs):  # type: ignore[no-untyped-def]
        raise services.SyncRangeError("The range 2026-11-24..2026-11-24 cannot be synced (a test says so).")

    monkeypatch.setattr(services, "sync_run_request", refuse)
    response = post_sync(admin_client, "2026-11-24", "2026-11-24")
    assert response.status_code == 200
    assert "cannot be synced (a test says so)." in response.content.decode()
    assert enqueued == []


def test_a_busy_trigger_gate_asks_to_try_again(admin_client, enqueued, monkeypatch) -> None:
    def busy(**kwargs):  # type: ignore[no-untyped-def]
        raise services.SyncBusyError("gate taken")

    monkeypatch.setattr(services, "sync_run_request", busy)
    response = post_sync(admin_client, "2026-11-24", "2026-11-24")
    assert response.status_code == 200
    assert "Another sync is being started right now: try again in a moment." in response.content.decode()
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("language", ["uz", "ru"])
def test_the_run_page_speaks_the_chosen_language(admin_client, language) -> None:
    from django.utils import translation

    done = run_of(status=SyncRun.Status.SUCCEEDED, days_done=3)
    html = admin_client.get(reverse("sync_panel:run", args=[done.pk]), HTTP_ACCEPT_LANGUAGE=language).content
    with translation.override(language):
        expected = [translation.gettext(text) for text in ("succeeded", "Progress")]
    assert expected[0] != "succeeded" and expected[1] != "Progress"  # there is a translation
    assert f'data-testid="run-status">{expected[0]}<' in html.decode()
    assert expected[1] in html.decode()
